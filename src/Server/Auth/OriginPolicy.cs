namespace FastWs.Server.Auth;

/// <summary>What the Origin check decided for one request.</summary>
public enum OriginVerdict
{
    /// <summary>No Origin header: not a browser (or a browser's same-origin GET, which never upgrades).</summary>
    None,

    /// <summary>An Origin on the <c>AllowedOrigins</c> list.</summary>
    Listed,

    /// <summary>An Origin not on the list while the list is empty: allowed to connect, never trusted as a local process.</summary>
    Unlisted,

    /// <summary>Refused: an Origin not on a configured list, or no Origin where one is required.</summary>
    Denied,
}

/// <summary>
/// Cross-site WebSocket hijacking protection. Browsers always send <c>Origin</c> on a WebSocket upgrade and on a
/// cross-origin POST, and a page cannot forge it. With <c>FastWs:AllowedOrigins</c> set, only those origins may
/// connect (exact <c>https://app.example.com</c>, or <c>https://*.example.com</c> / <c>*.example.com</c> for any
/// subdomain); the rest get 403. Either way a request that carries an Origin is a web page speaking, so it never
/// counts as a trusted local process (the <c>Loopback</c> rule) unless its origin is listed: a page opened in a
/// browser on the server's own host must not publish.
/// </summary>
public sealed class OriginPolicy
{
    private readonly HashSet<string> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string? Scheme, string HostSuffix, string? Port)> _wildcards = [];

    public OriginPolicy(IEnumerable<string> allowedOrigins, bool requireOrigin)
    {
        ArgumentNullException.ThrowIfNull(allowedOrigins);
        RequireOrigin = requireOrigin;
        foreach (string raw in allowedOrigins)
        {
            string entry = raw.Trim().TrimEnd('/');
            if (entry.Length == 0)
            {
                continue;
            }

            if (entry == "*")
            {
                throw new InvalidOperationException("FastWs:AllowedOrigins: '*' would allow every site; leave the list empty to allow any origin (then none is trusted as loopback)");
            }

            int star = entry.IndexOf('*', StringComparison.Ordinal);
            if (star < 0)
            {
                if (!Uri.TryCreate(entry, UriKind.Absolute, out Uri? uri) || uri.Host.Length == 0)
                {
                    throw new InvalidOperationException($"FastWs:AllowedOrigins: '{raw}' is not an origin (scheme://host[:port]) or a *.domain wildcard");
                }

                _exact.Add(entry);
                continue;
            }

            string? scheme = null;
            string rest = entry;
            int schemeEnd = entry.IndexOf("://", StringComparison.Ordinal);
            if (schemeEnd >= 0)
            {
                scheme = entry[..schemeEnd];
                rest = entry[(schemeEnd + 3)..];
            }

            string? port = null;
            int colon = rest.LastIndexOf(':');
            if (colon >= 0)
            {
                port = rest[(colon + 1)..];
                rest = rest[..colon];
            }

            if (!rest.StartsWith("*.", StringComparison.Ordinal) || rest.IndexOf('*', 1) >= 0 || rest.Length < 3)
            {
                throw new InvalidOperationException($"FastWs:AllowedOrigins: '{raw}': a wildcard must be a leading '*.' before a domain (*.example.com)");
            }

            _wildcards.Add((scheme, rest[1..], port)); // ".example.com"
        }
    }

    /// <summary>Whether a list is configured (then unlisted origins are refused).</summary>
    public bool HasList => _exact.Count > 0 || _wildcards.Count > 0;

    /// <summary>Refuse requests without Origin (<c>FastWs:RequireOrigin</c>): only browsers may connect.</summary>
    public bool RequireOrigin { get; }

    public OriginVerdict Check(string? origin)
    {
        if (string.IsNullOrEmpty(origin))
        {
            return RequireOrigin ? OriginVerdict.Denied : OriginVerdict.None;
        }

        if (IsListed(origin))
        {
            return OriginVerdict.Listed;
        }

        return HasList ? OriginVerdict.Denied : OriginVerdict.Unlisted;
    }

    private bool IsListed(string origin)
    {
        if (_exact.Contains(origin.TrimEnd('/')))
        {
            return true;
        }

        if (_wildcards.Count == 0 || !Uri.TryCreate(origin, UriKind.Absolute, out Uri? uri))
        {
            return false;
        }

        foreach ((string? scheme, string suffix, string? port) in _wildcards)
        {
            bool schemeOk = scheme is null || string.Equals(scheme, uri.Scheme, StringComparison.OrdinalIgnoreCase);
            bool portOk = port is null ? uri.IsDefaultPort : string.Equals(port, uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            bool hostOk = uri.Host.Length > suffix.Length && uri.Host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase);
            if (schemeOk && portOk && hostOk)
            {
                return true;
            }
        }

        return false;
    }
}
