using System.Text.Json;

namespace FastWs.Server.Messages;

/// <summary>The kinds of JSON messages a client may send (see docs/protocol.md).</summary>
public enum ClientRequestType
{
    Unknown,
    Subscribe,
    Unsubscribe,
    Publish,
    Ping,
    Auth,
}

/// <summary>
/// A parsed client message. It holds slices of the received payload rather than copies, so parsing allocates
/// nothing; it lives only while that payload does.
/// </summary>
public readonly ref struct ClientRequest
{
    public ClientRequestType Type { get; init; }

    /// <summary>The raw JSON of "type" when it is not one we know (for the error message).</summary>
    public ReadOnlySpan<byte> TypeName { get; init; }

    /// <summary>The raw JSON value of "id" (number or string, quotes included), empty when absent; echoed verbatim.</summary>
    public ReadOnlySpan<byte> Id { get; init; }

    /// <summary>The raw JSON array of "channels", empty when absent.</summary>
    public ReadOnlySpan<byte> Channels { get; init; }

    /// <summary>The raw JSON string of "channel" (quotes included), empty when absent.</summary>
    public ReadOnlySpan<byte> Channel { get; init; }

    /// <summary>The raw JSON string of the legacy "slabAddress" (quotes included), empty when absent.</summary>
    public ReadOnlySpan<byte> SlabAddress { get; init; }

    /// <summary>The raw JSON value of "data", byte for byte as the client sent it; empty when absent.</summary>
    public ReadOnlySpan<byte> Data { get; init; }

    /// <summary>The raw JSON string of "token" (quotes included) of an auth message, empty when absent.</summary>
    public ReadOnlySpan<byte> Token { get; init; }

    /// <summary>The raw JSON object of a subscribe's "since" (channel name to <c>{"epoch","seq"}</c>), empty when absent.</summary>
    public ReadOnlySpan<byte> Since { get; init; }
}

/// <summary>Parses a client text message with <see cref="Utf8JsonReader"/>; no allocation on success.</summary>
public static class ClientRequestParser
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Returns false with a reason when the message is not a JSON object with a usable "type".</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out ClientRequest request, out string error)
    {
        request = default;
        error = string.Empty;
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "Message must be a JSON object";
                return false;
            }

            ClientRequestType type = ClientRequestType.Unknown;
            bool hasType = false;
            ReadOnlySpan<byte> typeName = default, id = default, channels = default, channel = default, slab = default, data = default, token = default, since = default;

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                PropertyKind kind = Classify(ref reader);
                if (!reader.Read())
                {
                    break;
                }

                // RawValue skips over containers, leaving the reader on their end token: check the type first.
                JsonTokenType valueType = reader.TokenType;
                ReadOnlySpan<byte> raw = RawValue(ref reader, json);
                switch (kind)
                {
                    case PropertyKind.Type:
                        if (valueType != JsonTokenType.String)
                        {
                            error = "\"type\" must be a string";
                            return false;
                        }

                        hasType = true;
                        typeName = raw;
                        type = ParseType(ref reader);
                        break;
                    case PropertyKind.Id:
                        if (valueType is not (JsonTokenType.Number or JsonTokenType.String))
                        {
                            error = "\"id\" must be a number or a string";
                            return false;
                        }

                        id = raw;
                        break;
                    case PropertyKind.Channels:
                        if (valueType != JsonTokenType.StartArray)
                        {
                            error = "\"channels\" must be an array of strings";
                            return false;
                        }

                        channels = raw;
                        break;
                    case PropertyKind.Channel:
                        if (valueType != JsonTokenType.String)
                        {
                            error = "\"channel\" must be a string";
                            return false;
                        }

                        channel = raw;
                        break;
                    case PropertyKind.SlabAddress:
                        if (valueType != JsonTokenType.String)
                        {
                            error = "\"slabAddress\" must be a string";
                            return false;
                        }

                        slab = raw;
                        break;
                    case PropertyKind.Data:
                        data = raw;
                        break;
                    case PropertyKind.Token:
                        if (valueType != JsonTokenType.String)
                        {
                            error = "\"token\" must be a string";
                            return false;
                        }

                        token = raw;
                        break;
                    case PropertyKind.Since:
                        if (valueType != JsonTokenType.StartObject)
                        {
                            error = "\"since\" must be an object of channel names to {\"epoch\",\"seq\"}";
                            return false;
                        }

                        since = raw;
                        break;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                error = "Message must be a single JSON object";
                return false;
            }

            if (!hasType)
            {
                error = "Missing \"type\"";
                return false;
            }

            request = new ClientRequest
            {
                Type = type, TypeName = typeName, Id = id, Channels = channels, Channel = channel, SlabAddress = slab, Data = data, Token = token, Since = since,
            };
            return true;
        }
        catch (JsonException)
        {
            error = "Message is not valid JSON";
            return false;
        }
    }

    /// <summary>The bytes of the value the reader is on; containers are skipped so the slice covers them whole.</summary>
    private static ReadOnlySpan<byte> RawValue(scoped ref Utf8JsonReader reader, ReadOnlySpan<byte> json)
    {
        int start = (int)reader.TokenStartIndex;
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            reader.Skip();
        }

        return json[start..(int)reader.BytesConsumed];
    }

    private enum PropertyKind
    {
        Other,
        Type,
        Id,
        Channels,
        Channel,
        SlabAddress,
        Data,
        Token,
        Since,
    }

    private static PropertyKind Classify(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("type"u8))
        {
            return PropertyKind.Type;
        }

        if (reader.ValueTextEquals("id"u8))
        {
            return PropertyKind.Id;
        }

        if (reader.ValueTextEquals("channels"u8))
        {
            return PropertyKind.Channels;
        }

        if (reader.ValueTextEquals("channel"u8))
        {
            return PropertyKind.Channel;
        }

        if (reader.ValueTextEquals("slabAddress"u8))
        {
            return PropertyKind.SlabAddress;
        }

        if (reader.ValueTextEquals("token"u8))
        {
            return PropertyKind.Token;
        }

        if (reader.ValueTextEquals("since"u8))
        {
            return PropertyKind.Since;
        }

        return reader.ValueTextEquals("data"u8) ? PropertyKind.Data : PropertyKind.Other;
    }

    private static ClientRequestType ParseType(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("subscribe"u8))
        {
            return ClientRequestType.Subscribe;
        }

        if (reader.ValueTextEquals("unsubscribe"u8))
        {
            return ClientRequestType.Unsubscribe;
        }

        if (reader.ValueTextEquals("publish"u8))
        {
            return ClientRequestType.Publish;
        }

        if (reader.ValueTextEquals("auth"u8))
        {
            return ClientRequestType.Auth;
        }

        return reader.ValueTextEquals("ping"u8) ? ClientRequestType.Ping : ClientRequestType.Unknown;
    }
}
