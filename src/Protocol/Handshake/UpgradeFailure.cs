namespace FastWs.Protocol.Handshake;

/// <summary>Why an upgrade request was rejected.</summary>
public enum UpgradeFailure
{
    /// <summary>No failure.</summary>
    None,

    /// <summary>HTTP syntax error (request line, line endings, header name or value).</summary>
    Malformed,

    /// <summary>The method is not GET.</summary>
    MethodNotGet,

    /// <summary>The HTTP version is well formed but not HTTP/1.1.</summary>
    UnsupportedHttpVersion,

    /// <summary>No Host header, or an empty one.</summary>
    MissingHost,

    /// <summary>No Upgrade header listing "websocket": not a WebSocket request.</summary>
    MissingUpgrade,

    /// <summary>The Connection header does not list the "upgrade" token.</summary>
    MissingConnectionUpgrade,

    /// <summary>No Sec-WebSocket-Key header.</summary>
    MissingKey,

    /// <summary>Sec-WebSocket-Key is not base64 of exactly 16 bytes.</summary>
    InvalidKey,

    /// <summary>Sec-WebSocket-Version is missing or not 13.</summary>
    UnsupportedVersion,

    /// <summary>The request line and headers exceed <see cref="UpgradeParserOptions.MaxHeaderBytes"/>.</summary>
    HeadersTooLarge,

    /// <summary>A header that must appear at most once (Host, Sec-WebSocket-Key, Sec-WebSocket-Version, Origin, Authorization) was repeated.</summary>
    DuplicateHeader,

    /// <summary>Content-Length other than 0, or Transfer-Encoding, on the upgrade request.</summary>
    UnexpectedBody,
}
