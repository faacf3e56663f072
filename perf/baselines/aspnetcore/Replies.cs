using System.Buffers;
using System.Text.Json;

namespace FastWs.Baseline.AspNetCore;

/// <summary>Replies to client requests, written with <see cref="Utf8JsonWriter"/>. An id is echoed as sent.</summary>
internal static class Replies
{
    private static readonly byte[] PlainPong = """{"type":"pong"}"""u8.ToArray();

    public static byte[] Ack(string type, List<string> channels, ReadOnlySpan<byte> id)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, type);
            json.WriteStartArray("channels"u8);
            foreach (string channel in channels)
            {
                json.WriteStringValue(channel);
            }

            json.WriteEndArray();
            WriteId(json, id);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Published(string channel, ReadOnlySpan<byte> id)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "published"u8);
            json.WriteString("channel"u8, channel);
            WriteId(json, id);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Pong(ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty)
        {
            return PlainPong;
        }

        var buffer = new ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "pong"u8);
            WriteId(json, id);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Error(string code, string message, string? channel, ReadOnlySpan<byte> id)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "error"u8);
            json.WriteString("code"u8, code);
            json.WriteString("message"u8, message);
            if (channel is not null)
            {
                json.WriteString("channel"u8, channel.Length > ChannelNames.MaxLength ? channel[..ChannelNames.MaxLength] : channel);
            }

            WriteId(json, id);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteId(Utf8JsonWriter json, ReadOnlySpan<byte> id)
    {
        if (!id.IsEmpty)
        {
            json.WritePropertyName("id"u8);
            json.WriteRawValue(id, skipInputValidation: true);
        }
    }
}

/// <summary>Same rule as FastWs: <c>namespace</c> or <c>namespace:key</c>, at most 128 of [A-Za-z0-9_.:-].</summary>
internal static class ChannelNames
{
    public const int MaxLength = 128;

    public static bool IsValid(string name)
    {
        if (name.Length is 0 or > MaxLength)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '-'))
            {
                return false;
            }
        }

        int colon = name.IndexOf(':', StringComparison.Ordinal);
        return colon != 0 && colon != name.Length - 1;
    }
}
