using FastWs.Protocol.Handshake;

namespace FastWs.Protocol.Compression;

/// <summary>
/// Splits a <c>Sec-WebSocket-Extensions</c> value into offers, following RFC 6455 section 9.1:
/// <code>
/// extension-list  = 1#extension
/// extension       = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// </code>
/// </summary>
/// <remarks>
/// Commas and semicolons inside a quoted-string do not split (RFC 9110 section 5.6.4). The parser never fails as a
/// whole: an element it cannot read is passed over (no name) or handed out as not well formed (a name with bad
/// parameters), so one odd extension from a proxy or a browser experiment never costs the client the ones it got
/// right. Repeated headers arrive here already joined with ", " (<see cref="UpgradeRequest.Extensions"/>), which is
/// the same list. This runs once per handshake and allocates its strings freely.
/// </remarks>
public static class ExtensionHeader
{
    /// <summary>Every element of <paramref name="value"/> that has a valid extension token, in order.</summary>
    public static List<ExtensionOffer> Parse(string? value)
    {
        var offers = new List<ExtensionOffer>();
        if (string.IsNullOrEmpty(value))
        {
            return offers;
        }

        ReadOnlySpan<char> rest = value;
        while (!rest.IsEmpty)
        {
            int end = IndexOfUnquoted(rest, ',');
            ReadOnlySpan<char> element = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];

            // RFC 9110 section 5.6.1: empty list elements ("a, , b") are allowed and ignored.
            if (element.Trim(" \t").IsEmpty)
            {
                continue;
            }

            if (ParseElement(element) is ExtensionOffer offer)
            {
                offers.Add(offer);
            }
        }

        return offers;
    }

    private static ExtensionOffer? ParseElement(ReadOnlySpan<char> element)
    {
        int semicolon = IndexOfUnquoted(element, ';');
        ReadOnlySpan<char> name = (semicolon < 0 ? element : element[..semicolon]).Trim(" \t");
        if (!HttpChars.IsToken(name))
        {
            return null;
        }

        var parameters = new List<ExtensionParameter>();
        bool wellFormed = true;
        ReadOnlySpan<char> rest = semicolon < 0 ? [] : element[(semicolon + 1)..];
        bool more = semicolon >= 0;
        while (more)
        {
            int next = IndexOfUnquoted(rest, ';');
            ReadOnlySpan<char> parameter = (next < 0 ? rest : rest[..next]).Trim(" \t");
            more = next >= 0;
            rest = next < 0 ? [] : rest[(next + 1)..];

            if (TryParseParameter(parameter, out ExtensionParameter parsed))
            {
                parameters.Add(parsed);
            }
            else
            {
                wellFormed = false;
            }
        }

        return new ExtensionOffer(name.ToString(), parameters, wellFormed);
    }

    /// <summary><c>token</c>, <c>token=token</c> or <c>token="quoted"</c>, with optional whitespace around '='.</summary>
    private static bool TryParseParameter(ReadOnlySpan<char> parameter, out ExtensionParameter parsed)
    {
        parsed = default;
        int equals = parameter.IndexOf('=');
        ReadOnlySpan<char> name = (equals < 0 ? parameter : parameter[..equals]).Trim(" \t");
        if (!HttpChars.IsToken(name))
        {
            return false;
        }

        if (equals < 0)
        {
            parsed = new ExtensionParameter(name.ToString(), null);
            return true;
        }

        ReadOnlySpan<char> value = parameter[(equals + 1)..].Trim(" \t");
        if (value.Length > 0 && value[0] == '"')
        {
            if (!TryUnquote(value, out string? unquoted))
            {
                return false;
            }

            parsed = new ExtensionParameter(name.ToString(), unquoted);
            return true;
        }

        if (!HttpChars.IsToken(value))
        {
            return false;
        }

        parsed = new ExtensionParameter(name.ToString(), value.ToString());
        return true;
    }

    /// <summary>A quoted-string that spans the whole of <paramref name="quoted"/>, with its backslash escapes removed.</summary>
    private static bool TryUnquote(ReadOnlySpan<char> quoted, out string? value)
    {
        value = null;
        var text = new System.Text.StringBuilder(quoted.Length);
        for (int i = 1; i < quoted.Length; i++)
        {
            char c = quoted[i];
            if (c == '\\')
            {
                if (++i >= quoted.Length)
                {
                    return false;
                }

                text.Append(quoted[i]);
            }
            else if (c == '"')
            {
                // The closing quote must end the value: 'a="x"y' is not a quoted-string.
                if (i != quoted.Length - 1)
                {
                    return false;
                }

                value = text.ToString();
                return true;
            }
            else
            {
                text.Append(c);
            }
        }

        return false; // no closing quote
    }

    /// <summary>Index of <paramref name="separator"/> outside quoted-strings, or -1.</summary>
    private static int IndexOfUnquoted(ReadOnlySpan<char> text, char separator)
    {
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == separator)
            {
                return i;
            }
        }

        return -1;
    }
}
