using System.Buffers;
using System.Text.Json;

namespace FastWs.LoadGen.Net;

/// <summary>A channel's position in its stream: <c>{"epoch":"...","seq":N}</c>.</summary>
internal readonly record struct StreamPosition(string Epoch, long Seq);

/// <summary>
/// A parsed <c>{"type":"subscribed","channels":[...],"positions":{"c":{"epoch":"...","seq":N}},"recovered":[...],"notRecovered":[...],"id":N}</c>.
/// <c>recovered</c> and <c>notRecovered</c> are null when the server left them out (no <c>since</c> was sent, or a
/// server without recovery).
/// </summary>
internal sealed class SubscribedAck
{
    public long? Id { get; private set; }

    public List<string> Channels { get; } = [];

    public Dictionary<string, StreamPosition> Positions { get; } = new(StringComparer.Ordinal);

    public HashSet<string>? Recovered { get; private set; }

    public HashSet<string>? NotRecovered { get; private set; }

    /// <summary>Parses an ack (only acks: a few per connection, so a real JSON reader). Returns null for anything malformed.</summary>
    public static SubscribedAck? Parse(ReadOnlySpan<byte> json)
    {
        var ack = new SubscribedAck();
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    ack.Id = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long id) ? id : null;
                }
                else if (reader.ValueTextEquals("channels"u8))
                {
                    reader.Read();
                    ReadNames(ref reader, ack.Channels);
                }
                else if (reader.ValueTextEquals("recovered"u8))
                {
                    reader.Read();
                    ack.Recovered = new HashSet<string>(StringComparer.Ordinal);
                    ReadNames(ref reader, ack.Recovered);
                }
                else if (reader.ValueTextEquals("notRecovered"u8))
                {
                    reader.Read();
                    ack.NotRecovered = new HashSet<string>(StringComparer.Ordinal);
                    ReadNames(ref reader, ack.NotRecovered);
                }
                else if (reader.ValueTextEquals("positions"u8))
                {
                    reader.Read();
                    if (!ReadPositions(ref reader, ack.Positions))
                    {
                        return null;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return ack;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void ReadNames(ref Utf8JsonReader reader, ICollection<string> names)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                names.Add(reader.GetString()!);
            }
            else
            {
                reader.Skip();
            }
        }
    }

    private static bool ReadPositions(ref Utf8JsonReader reader, Dictionary<string, StreamPosition> positions)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string channel = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            string? epoch = null;
            long seq = -1;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isEpoch = reader.ValueTextEquals("epoch"u8);
                bool isSeq = reader.ValueTextEquals("seq"u8);
                reader.Read();
                if (isEpoch && reader.TokenType == JsonTokenType.String)
                {
                    epoch = reader.GetString();
                }
                else if (isSeq && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value))
                {
                    seq = value;
                }
                else
                {
                    reader.Skip();
                }
            }

            if (epoch is null || seq < 0)
            {
                return false;
            }

            positions[channel] = new StreamPosition(epoch, seq);
        }

        return true;
    }
}

/// <summary>The client side of FastWs's recovery protocol: subscribe requests carrying <c>since</c>.</summary>
internal static class StreamProtocol
{
    /// <summary>
    /// <c>{"type":"subscribe","channels":[...],"since":{"c":{"epoch":"...","seq":N}},"id":ID}</c>; <c>since</c> only
    /// when <paramref name="since"/> has entries.
    /// </summary>
    public static byte[] Subscribe(IReadOnlyList<string> channels, IReadOnlyList<KeyValuePair<string, StreamPosition>> since, long id)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "subscribe"u8);
            json.WriteStartArray("channels"u8);
            foreach (string channel in channels)
            {
                json.WriteStringValue(channel);
            }

            json.WriteEndArray();
            if (since.Count > 0)
            {
                json.WriteStartObject("since"u8);
                foreach ((string channel, StreamPosition position) in since)
                {
                    json.WriteStartObject(channel);
                    json.WriteString("epoch"u8, position.Epoch);
                    json.WriteNumber("seq"u8, position.Seq);
                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            json.WriteNumber("id"u8, id);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
