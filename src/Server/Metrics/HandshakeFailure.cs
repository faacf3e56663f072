using FastWs.Protocol.Handshake;

namespace FastWs.Server.Metrics;

/// <summary>Why a connection did not become a WebSocket (counted per reason).</summary>
public enum HandshakeFailure
{
    Malformed,
    MethodNotGet,
    UnsupportedHttpVersion,
    MissingHost,
    NotWebSocket,
    MissingConnectionUpgrade,
    MissingKey,
    InvalidKey,
    UnsupportedVersion,
    HeadersTooLarge,
    DuplicateHeader,
    UnexpectedBody,
    NotFound,
    Timeout,
    Disconnected,
    ShuttingDown,
    OriginRejected,
}

public static class HandshakeFailures
{
    public static readonly int Count = Enum.GetValues<HandshakeFailure>().Length;

    private static readonly string[] Names =
    [
        "malformed", "method_not_get", "unsupported_http_version", "missing_host", "not_websocket",
        "missing_connection_upgrade", "missing_key", "invalid_key", "unsupported_version", "headers_too_large",
        "duplicate_header", "unexpected_body", "not_found", "timeout", "disconnected", "shutting_down",
        "origin_rejected",
    ];

    /// <summary>The snake_case label used in stats and metrics.</summary>
    public static string Name(HandshakeFailure failure) => Names[(int)failure];

    public static HandshakeFailure From(UpgradeFailure failure) => failure switch
    {
        UpgradeFailure.MethodNotGet => HandshakeFailure.MethodNotGet,
        UpgradeFailure.UnsupportedHttpVersion => HandshakeFailure.UnsupportedHttpVersion,
        UpgradeFailure.MissingHost => HandshakeFailure.MissingHost,
        UpgradeFailure.MissingUpgrade => HandshakeFailure.NotWebSocket,
        UpgradeFailure.MissingConnectionUpgrade => HandshakeFailure.MissingConnectionUpgrade,
        UpgradeFailure.MissingKey => HandshakeFailure.MissingKey,
        UpgradeFailure.InvalidKey => HandshakeFailure.InvalidKey,
        UpgradeFailure.UnsupportedVersion => HandshakeFailure.UnsupportedVersion,
        UpgradeFailure.HeadersTooLarge => HandshakeFailure.HeadersTooLarge,
        UpgradeFailure.DuplicateHeader => HandshakeFailure.DuplicateHeader,
        UpgradeFailure.UnexpectedBody => HandshakeFailure.UnexpectedBody,
        _ => HandshakeFailure.Malformed,
    };
}
