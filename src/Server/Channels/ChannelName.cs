namespace FastWs.Server.Channels;

/// <summary>
/// Channel names are <c>namespace</c> or <c>namespace:key</c>: at most 128 bytes of [A-Za-z0-9_.:-], with a
/// non-empty namespace and, when a colon is present, a non-empty key. The restricted alphabet is what lets
/// data frames embed the name in JSON without escaping.
/// </summary>
public static class ChannelName
{
    public const int MaxLength = 128;

    /// <summary>Checks the syntax of a UTF-8 name and returns the namespace's length.</summary>
    public static bool IsValid(ReadOnlySpan<byte> name, out int namespaceLength)
    {
        namespaceLength = 0;
        if (name.IsEmpty || name.Length > MaxLength)
        {
            return false;
        }

        foreach (byte b in name)
        {
            if (!IsAllowed(b))
            {
                return false;
            }
        }

        int colon = name.IndexOf((byte)':');
        namespaceLength = colon < 0 ? name.Length : colon;
        return namespaceLength > 0 && colon != name.Length - 1;
    }

    public static bool IsValid(ReadOnlySpan<char> name, out int namespaceLength)
    {
        namespaceLength = 0;
        if (name.IsEmpty || name.Length > MaxLength)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (c > 0x7F || !IsAllowed((byte)c))
            {
                return false;
            }
        }

        int colon = name.IndexOf(':');
        namespaceLength = colon < 0 ? name.Length : colon;
        return namespaceLength > 0 && colon != name.Length - 1;
    }

    /// <summary>The key group a channel counts toward for per-key limits: "price:SOL" → "SOL"; no key → the namespace.</summary>
    public static ReadOnlySpan<char> KeyGroup(ReadOnlySpan<char> name)
    {
        int colon = name.IndexOf(':');
        return colon < 0 ? name : name[(colon + 1)..];
    }

    /// <summary>The namespace part: "user:0xab" → "user".</summary>
    public static ReadOnlySpan<char> Namespace(ReadOnlySpan<char> name)
    {
        int colon = name.IndexOf(':');
        return colon < 0 ? name : name[..colon];
    }

    /// <summary>The key after the first colon ("user:0xab" → "0xab"); empty for a bare namespace.</summary>
    public static ReadOnlySpan<char> Key(ReadOnlySpan<char> name)
    {
        int colon = name.IndexOf(':');
        return colon < 0 ? [] : name[(colon + 1)..];
    }

    private static bool IsAllowed(byte b) =>
        (uint)((b | 0x20) - 'a') <= 'z' - 'a' || (uint)(b - '0') <= 9 || b is (byte)'_' or (byte)'.' or (byte)':' or (byte)'-';
}
