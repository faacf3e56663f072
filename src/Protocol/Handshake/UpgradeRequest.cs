namespace FastWs.Protocol.Handshake;

/// <summary>A validated WebSocket upgrade request (RFC 6455 section 4.2.1).</summary>
public sealed class UpgradeRequest
{
    private readonly KeyValuePair<string, string>[] _headers;

    internal UpgradeRequest(
        string target,
        string path,
        string query,
        string host,
        string? origin,
        string key,
        IReadOnlyList<string> subProtocols,
        string? extensions,
        string? authorization,
        string? forwardedFor,
        KeyValuePair<string, string>[] headers)
    {
        Target = target;
        Path = path;
        Query = query;
        Host = host;
        Origin = origin;
        Key = key;
        SubProtocols = subProtocols;
        Extensions = extensions;
        Authorization = authorization;
        ForwardedFor = forwardedFor;
        _headers = headers;
    }

    /// <summary>Always "GET": any other method is rejected.</summary>
    public string Method => "GET";

    /// <summary>The raw request-target (path and query), exactly as sent.</summary>
    public string Target { get; }

    /// <summary>The request-target up to the first '?', not percent-decoded.</summary>
    public string Path { get; }

    /// <summary>The raw text after the first '?', or an empty string when there is none.</summary>
    public string Query { get; }

    /// <summary>The Host header value.</summary>
    public string Host { get; }

    /// <summary>The Origin header value, if any.</summary>
    public string? Origin { get; }

    /// <summary>The Sec-WebSocket-Key as sent, trimmed; validated as base64 of 16 bytes.</summary>
    public string Key { get; }

    /// <summary>The Sec-WebSocket-Version; always 13, the only version accepted.</summary>
    public int Version => 13;

    /// <summary>Sub-protocol tokens from every Sec-WebSocket-Protocol header, in order of appearance.</summary>
    public IReadOnlyList<string> SubProtocols { get; }

    /// <summary>Raw Sec-WebSocket-Extensions value, repeated headers joined with ", ".</summary>
    public string? Extensions { get; }

    /// <summary>The Authorization header value, if any.</summary>
    public string? Authorization { get; }

    /// <summary>Raw X-Forwarded-For value, repeated headers joined with ", " (each proxy may add its own line).</summary>
    public string? ForwardedFor { get; }

    /// <summary>
    /// Every header in arrival order. Names of headers the parser knows (Host, Upgrade, Sec-WebSocket-*, ...) use their
    /// canonical spelling; other names are as sent. Values are trimmed of surrounding whitespace.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => _headers;

    /// <summary>
    /// The value of header <paramref name="name"/> (case-insensitive), repeated headers joined with ", " as RFC 9110
    /// section 5.3 allows for list-valued fields; null when absent.
    /// </summary>
    public string? GetHeader(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string? result = null;
        foreach (KeyValuePair<string, string> header in _headers)
        {
            if (string.Equals(header.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                result = result is null ? header.Value : string.Concat(result, ", ", header.Value);
            }
        }

        return result;
    }
}
