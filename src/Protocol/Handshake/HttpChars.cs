using System.Buffers;

namespace FastWs.Protocol.Handshake;

/// <summary>Character classes from RFC 9110 section 5.6.2 and RFC 9112 section 3.2.1.</summary>
internal static class HttpChars
{
    public const byte Space = (byte)' ';
    public const byte Tab = (byte)'\t';

    /// <summary>tchar: the characters allowed in methods, header names and list tokens.</summary>
    public static readonly SearchValues<byte> Token = SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>field-vchar plus SP/HTAB; obs-text (0x80-0xFF) is allowed so UTF-8 values survive.</summary>
    public static readonly SearchValues<byte> FieldValue = SearchValues.Create(BuildFieldValue());

    /// <summary>
    /// Visible ASCII except '#': a fragment is never part of a request-target, and anything non-visible would be
    /// ambiguous about where the target ends.
    /// </summary>
    public static readonly SearchValues<byte> Target = SearchValues.Create(BuildTarget());

    public static bool IsToken(ReadOnlySpan<byte> value) => !value.IsEmpty && !value.ContainsAnyExcept(Token);

    public static bool IsToken(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (c > 0x7F || !Token.Contains((byte)c))
            {
                return false;
            }
        }

        return true;
    }

    public static ReadOnlySpan<byte> TrimOws(ReadOnlySpan<byte> value)
    {
        int start = 0;
        while (start < value.Length && value[start] is Space or Tab)
        {
            start++;
        }

        int end = value.Length;
        while (end > start && value[end - 1] is Space or Tab)
        {
            end--;
        }

        return value[start..end];
    }

    /// <summary>
    /// Whether the comma-separated list contains <paramref name="token"/> as a whole element, ASCII case-insensitively.
    /// Element boundaries matter: "upgrades" or "keep-alive upgrade" must not count as "upgrade".
    /// </summary>
    public static bool ListContains(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
    {
        while (true)
        {
            int comma = list.IndexOf((byte)',');
            ReadOnlySpan<byte> element = TrimOws(comma < 0 ? list : list[..comma]);
            if (System.Text.Ascii.EqualsIgnoreCase(element, token))
            {
                return true;
            }

            if (comma < 0)
            {
                return false;
            }

            list = list[(comma + 1)..];
        }
    }

    private static byte[] BuildFieldValue()
    {
        var chars = new byte[256 - 0x20];
        int n = 0;
        chars[n++] = Tab;
        for (int c = 0x20; c <= 0xFF; c++)
        {
            if (c != 0x7F)
            {
                chars[n++] = (byte)c;
            }
        }

        return chars[..n];
    }

    private static byte[] BuildTarget()
    {
        var chars = new byte[0x7F - 0x21];
        int n = 0;
        for (int c = 0x21; c <= 0x7E; c++)
        {
            if (c != '#')
            {
                chars[n++] = (byte)c;
            }
        }

        return chars[..n];
    }
}
