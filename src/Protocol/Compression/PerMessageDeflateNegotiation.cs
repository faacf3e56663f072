namespace FastWs.Protocol.Compression;

/// <summary>
/// Chooses the permessage-deflate offer to accept from a client's <c>Sec-WebSocket-Extensions</c> (RFC 7692
/// sections 5 and 7.1) and says what to answer.
/// </summary>
/// <remarks>
/// The client lists offers in order of preference; the first one this server can accept wins. An offer is
/// declined, and the next one tried, when it has a parameter RFC 7692 does not define, the same parameter twice,
/// a value where none belongs, or a window size that is not a decimal 8-15 without leading zeros (a quoted value
/// counts when its content is valid: section 7.1's "quoted-string" rule). Other extensions are ignored: the server
/// implements none, and RFC 6455 section 9.1 lets it answer only those it accepts.
/// <para>
/// The answer always carries <c>server_no_context_takeover</c>: every message is compressed once for all the
/// subscribers of its channel, so it cannot depend on what an individual connection received before.
/// <c>server_max_window_bits</c> is echoed when offered (the server keeps within it); <c>client_max_window_bits</c>
/// is echoed with the client's own hint when it gave one, and otherwise left out, which leaves the client at
/// its default of 15 (the inflater decodes any window up to 15).
/// </para>
/// </remarks>
public static class PerMessageDeflateNegotiation
{
    public const string ExtensionName = "permessage-deflate";

    private const string ServerNoContextTakeover = "server_no_context_takeover";
    private const string ClientNoContextTakeover = "client_no_context_takeover";
    private const string ServerMaxWindowBits = "server_max_window_bits";
    private const string ClientMaxWindowBits = "client_max_window_bits";

    /// <summary>
    /// Negotiates from the raw header value (<see cref="Handshake.UpgradeRequest.Extensions"/>, repeated headers
    /// already joined). Returns false, with <c>default</c> parameters, when no offer is acceptable or there is none.
    /// </summary>
    public static bool TryNegotiate(string? extensionsHeader, DeflateNegotiationOptions? options, out DeflateParameters accepted)
    {
        accepted = default;
        if (string.IsNullOrEmpty(extensionsHeader))
        {
            return false;
        }

        options ??= DeflateNegotiationOptions.Default;
        foreach (ExtensionOffer offer in ExtensionHeader.Parse(extensionsHeader))
        {
            if (string.Equals(offer.Name, ExtensionName, StringComparison.OrdinalIgnoreCase) && TryAccept(offer, options, out accepted))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Accepts one permessage-deflate offer, or declines it (false) when any parameter is unacceptable.</summary>
    public static bool TryAccept(ExtensionOffer offer, DeflateNegotiationOptions options, out DeflateParameters accepted)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(options);
        accepted = default;
        if (!offer.IsWellFormed)
        {
            return false;
        }

        bool sawServerNoTakeover = false;
        bool clientNoTakeover = false;
        int serverBits = 0;
        bool sawClientBits = false;
        int clientBits = 0;
        foreach (ExtensionParameter parameter in offer.Parameters)
        {
            // Parameter names are matched case-insensitively, as the extension name is: no client is known to vary
            // the case, and refusing compression over it would help nobody.
            if (Is(parameter, ServerNoContextTakeover))
            {
                if (sawServerNoTakeover || parameter.Value is not null)
                {
                    return false;
                }

                sawServerNoTakeover = true;
            }
            else if (Is(parameter, ClientNoContextTakeover))
            {
                if (clientNoTakeover || parameter.Value is not null)
                {
                    return false;
                }

                clientNoTakeover = true;
            }
            else if (Is(parameter, ServerMaxWindowBits))
            {
                // Section 7.1.2.1: the value is required.
                if (serverBits != 0 || !TryParseWindowBits(parameter.Value, out serverBits))
                {
                    return false;
                }
            }
            else if (Is(parameter, ClientMaxWindowBits))
            {
                // Section 7.1.2.2: the value is optional; without one the client only says it understands the parameter.
                if (sawClientBits || (parameter.Value is not null && !TryParseWindowBits(parameter.Value, out clientBits)))
                {
                    return false;
                }

                sawClientBits = true;
            }
            else
            {
                return false; // section 7: an offer with an unknown parameter is declined
            }
        }

        accepted = new DeflateParameters(
            clientNoContextTakeover: clientNoTakeover || !options.AllowClientContextTakeover,
            serverMaxWindowBits: serverBits != 0 ? serverBits : DeflateParameters.MaxWindowBits,
            serverBitsInResponse: serverBits != 0,
            clientMaxWindowBits: clientBits != 0 ? clientBits : DeflateParameters.MaxWindowBits,
            clientBitsInResponse: clientBits != 0);
        return true;
    }

    private static bool Is(ExtensionParameter parameter, string name) => string.Equals(parameter.Name, name, StringComparison.OrdinalIgnoreCase);

    /// <summary>Section 7.1.2: "a decimal integer value without leading zeroes between 8 to 15 inclusive".</summary>
    private static bool TryParseWindowBits(string? value, out int bits)
    {
        bits = 0;
        if (value is null || value.Length is 0 or > 2 || value[0] == '0')
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            bits = (bits * 10) + (c - '0');
        }

        if (bits is < DeflateParameters.MinWindowBits or > DeflateParameters.MaxWindowBits)
        {
            bits = 0;
            return false;
        }

        return true;
    }
}
