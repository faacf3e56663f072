using System.Buffers.Text;
using System.Text;

namespace FastWs.LoadGen.Net;

/// <summary>What a server text message is, judged from its "type" field.</summary>
internal enum ServerMessageKind
{
    Data,
    Subscribed,
    Authenticated,
    Error,

    /// <summary>FastWs's first message after the upgrade (<c>{"type":"connected","connectionId":...}</c>): neither data nor an error.</summary>
    Connected,

    /// <summary>FastWs's <c>{"type":"gap","channel":...,"from":A,"to":B}</c>: messages A..B were skipped for this (slow) client.</summary>
    Gap,

    /// <summary>Anything else, including data in a namespace with the inline format (the published object with <c>channel</c> and <c>seq</c> appended).</summary>
    Other,
}

/// <summary>
/// Just enough JSON scanning to handle the protocol's server messages without parsing them: find a key, read
/// the number or string after it. Tolerates whitespace around the colon, so servers that pretty-print still work.
/// Only the tool's own fields are looked at, and their values never contain the quoted key names searched for.
/// </summary>
internal static class ProtocolText
{
    private static ReadOnlySpan<byte> TypeKey => "\"type\""u8;

    private static ReadOnlySpan<byte> TimestampKey => "\"t\""u8;

    private static ReadOnlySpan<byte> SeqKey => "\"seq\""u8;

    public static ServerMessageKind Classify(ReadOnlySpan<byte> json)
    {
        int value = FindValue(json, TypeKey);
        if (value < 0 || json[value] != (byte)'"')
        {
            return ServerMessageKind.Other;
        }

        ReadOnlySpan<byte> rest = json[(value + 1)..];
        if (rest.StartsWith("message\""u8))
        {
            return ServerMessageKind.Data;
        }

        if (rest.StartsWith("subscribed\""u8))
        {
            return ServerMessageKind.Subscribed;
        }

        if (rest.StartsWith("connected\""u8))
        {
            return ServerMessageKind.Connected;
        }

        if (rest.StartsWith("authenticated\""u8))
        {
            return ServerMessageKind.Authenticated;
        }

        if (rest.StartsWith("gap\""u8))
        {
            return ServerMessageKind.Gap;
        }

        return rest.StartsWith("error\""u8) ? ServerMessageKind.Error : ServerMessageKind.Other;
    }

    /// <summary>The publisher's timestamp: the number after <c>"t":</c> inside the data.</summary>
    public static bool TryReadTimestamp(ReadOnlySpan<byte> json, out long ticks) => TryReadLong(json, TimestampKey, out ticks);

    public static bool TryReadSeq(ReadOnlySpan<byte> json, out long seq) => TryReadLong(json, SeqKey, out seq);

    public static bool TryReadLong(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedKey, out long value)
    {
        int at = FindValue(json, quotedKey);
        if (at < 0)
        {
            value = 0;
            return false;
        }

        return Utf8Parser.TryParse(json[at..], out value, out _);
    }

    /// <summary>Reads a string value (no unescaping beyond taking the raw bytes), or null.</summary>
    public static string? ReadString(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedKey, int maxLength = 64)
    {
        int at = FindValue(json, quotedKey);
        if (at < 0 || json[at] != (byte)'"')
        {
            return null;
        }

        ReadOnlySpan<byte> rest = json[(at + 1)..];
        int end = rest.IndexOf((byte)'"');
        if (end < 0)
        {
            return null;
        }

        return Encoding.UTF8.GetString(rest[..Math.Min(end, maxLength)]);
    }

    /// <summary>The raw bytes of a string value (no unescaping), without allocating; false when the key has no string value.</summary>
    public static bool TryReadStringBytes(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedKey, out ReadOnlySpan<byte> value)
    {
        value = default;
        int at = FindValue(json, quotedKey);
        if (at < 0 || json[at] != (byte)'"')
        {
            return false;
        }

        ReadOnlySpan<byte> rest = json[(at + 1)..];
        int end = rest.IndexOf((byte)'"');
        if (end < 0)
        {
            return false;
        }

        value = rest[..end];
        return true;
    }

    /// <summary>True when the key's value is the literal <c>true</c> (FastWs marks snapshots with <c>"snapshot":true</c>).</summary>
    public static bool IsTrue(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedKey)
    {
        int at = FindValue(json, quotedKey);
        return at >= 0 && json[at..].StartsWith("true"u8);
    }

    /// <summary>True when the value of <c>"channels"</c> is an empty array (a subscribe that was refused whole).</summary>
    public static bool HasEmptyChannelList(ReadOnlySpan<byte> json)
    {
        int at = FindValue(json, "\"channels\""u8);
        if (at < 0 || json[at] != (byte)'[')
        {
            return false;
        }

        int i = at + 1;
        while (i < json.Length && IsWhitespace(json[i]))
        {
            i++;
        }

        return i < json.Length && json[i] == (byte)']';
    }

    /// <summary>Index of the first non-blank byte after <c>"key"</c> and its colon, or -1.</summary>
    private static int FindValue(ReadOnlySpan<byte> json, ReadOnlySpan<byte> quotedKey)
    {
        int offset = 0;
        while (true)
        {
            int found = json[offset..].IndexOf(quotedKey);
            if (found < 0)
            {
                return -1;
            }

            int i = offset + found + quotedKey.Length;
            while (i < json.Length && IsWhitespace(json[i]))
            {
                i++;
            }

            if (i < json.Length && json[i] == (byte)':')
            {
                i++;
                while (i < json.Length && IsWhitespace(json[i]))
                {
                    i++;
                }

                return i < json.Length ? i : -1;
            }

            // The key text appeared as a value; keep looking.
            offset = i;
        }
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
