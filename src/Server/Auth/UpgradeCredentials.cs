using FastWs.Protocol.Handshake;
using Microsoft.AspNetCore.WebUtilities;

namespace FastWs.Server.Auth;

/// <summary>
/// What an upgrade request says about identity and subprotocol: the token, from wherever the client could put
/// it, and the subprotocol to answer with.
/// </summary>
/// <remarks>
/// Token places, first found wins: <c>Authorization: Bearer</c> (services), a <c>bearer.&lt;JWT&gt;</c> value among
/// the offered subprotocols (browsers, which cannot set headers: <c>new WebSocket(url, ["fastws.v1", "bearer." + jwt])</c>),
/// then <c>?token=</c> in the URL (the seed servers' form). The bearer value is never echoed back: the answer is
/// <c>fastws.v1</c> when offered, and no subprotocol otherwise (RFC 6455's way of declining every offer).
/// </remarks>
public readonly record struct UpgradeCredentials(string? Token, string? SubProtocol)
{
    /// <summary>The versioned protocol name the server speaks.</summary>
    public const string ProtocolName = "fastws.v1";

    /// <summary>Prefix of the subprotocol value that carries a token.</summary>
    public const string BearerPrefix = "bearer.";

    public static UpgradeCredentials From(UpgradeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? token = null;
        if (request.Authorization is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = authorization["Bearer ".Length..].Trim();
        }

        string? subProtocol = null;
        foreach (string offered in request.SubProtocols)
        {
            if (string.Equals(offered, ProtocolName, StringComparison.Ordinal))
            {
                subProtocol = ProtocolName;
            }
            else if (token is null && offered.StartsWith(BearerPrefix, StringComparison.Ordinal))
            {
                token = offered[BearerPrefix.Length..];
            }
        }

        if (token is null && request.Query.Contains("token=", StringComparison.Ordinal))
        {
            foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> pair in QueryHelpers.ParseQuery(request.Query))
            {
                if (string.Equals(pair.Key, "token", StringComparison.Ordinal))
                {
                    token = pair.Value.ToString();
                    break;
                }
            }
        }

        // A token place that is present but empty is a client bug, refused as malformed rather than read as anonymous.
        return new UpgradeCredentials(token, subProtocol);
    }
}
