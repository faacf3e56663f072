using System.Buffers;
using System.Text.Json;

namespace FastWs.Client;

/// <summary>The client's requests as JSON text (docs/protocol.md, "Client to server").</summary>
internal static class WireRequests
{
    public static byte[] Subscribe(IReadOnlyList<string> channels, IReadOnlyDictionary<string, FastWsPosition>? since, long id) =>
        Write(json =>
        {
            json.WriteString("type"u8, "subscribe"u8);
            WriteChannels(json, channels);
            if (since is { Count: > 0 })
            {
                json.WriteStartObject("since"u8);
                foreach ((string channel, FastWsPosition position) in since)
                {
                    json.WriteStartObject(channel);
                    json.WriteString("epoch"u8, position.Epoch);
                    json.WriteNumber("seq"u8, position.Seq);
                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            json.WriteNumber("id"u8, id);
        });

    public static byte[] Unsubscribe(IReadOnlyList<string> channels, long id) =>
        Write(json =>
        {
            json.WriteString("type"u8, "unsubscribe"u8);
            WriteChannels(json, channels);
            json.WriteNumber("id"u8, id);
        });

    public static byte[] Auth(string token, long id) =>
        Write(json =>
        {
            json.WriteString("type"u8, "auth"u8);
            json.WriteString("token"u8, token);
            json.WriteNumber("id"u8, id);
        });

    public static byte[] Ping(long? id) =>
        Write(json =>
        {
            json.WriteString("type"u8, "ping"u8);
            if (id is long value)
            {
                json.WriteNumber("id"u8, value);
            }
        });

    private static void WriteChannels(Utf8JsonWriter json, IReadOnlyList<string> channels)
    {
        json.WriteStartArray("channels"u8);
        foreach (string channel in channels)
        {
            json.WriteStringValue(channel);
        }

        json.WriteEndArray();
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
