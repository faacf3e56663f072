namespace FastWs.Protocol.Handshake;

/// <summary>Every rejection the parser can produce, built once.</summary>
internal static class Rejections
{
    private const int BadRequest = 400;
    private const int UpgradeRequired = 426;
    private const int HeaderFieldsTooLarge = 431;

    public static readonly UpgradeRejection MalformedRequestLine =
        new(UpgradeFailure.Malformed, BadRequest, "Request line must be 'GET <path> HTTP/1.1'");

    public static readonly UpgradeRejection InvalidMethodChar =
        new(UpgradeFailure.Malformed, BadRequest, "Request method contains an invalid character");

    public static readonly UpgradeRejection TargetNotPath =
        new(UpgradeFailure.Malformed, BadRequest, "Request target must be a path starting with '/'");

    public static readonly UpgradeRejection InvalidTargetChar =
        new(UpgradeFailure.Malformed, BadRequest, "Request target contains an invalid character");

    public static readonly UpgradeRejection MalformedHttpVersion =
        new(UpgradeFailure.Malformed, BadRequest, "HTTP version is malformed");

    public static readonly UpgradeRejection BareLf =
        new(UpgradeFailure.Malformed, BadRequest, "Lines must end with CRLF, not a bare LF");

    public static readonly UpgradeRejection BareCr =
        new(UpgradeFailure.Malformed, BadRequest, "Bare CR is not allowed");

    public static readonly UpgradeRejection ObsFold =
        new(UpgradeFailure.Malformed, BadRequest, "Obsolete header line folding is not allowed");

    public static readonly UpgradeRejection MissingColon =
        new(UpgradeFailure.Malformed, BadRequest, "Header line has no colon");

    public static readonly UpgradeRejection SpaceBeforeColon =
        new(UpgradeFailure.Malformed, BadRequest, "Whitespace between header name and colon is not allowed");

    public static readonly UpgradeRejection EmptyHeaderName =
        new(UpgradeFailure.Malformed, BadRequest, "Header name is empty");

    public static readonly UpgradeRejection InvalidHeaderNameChar =
        new(UpgradeFailure.Malformed, BadRequest, "Header name contains an invalid character");

    public static readonly UpgradeRejection ControlCharInValue =
        new(UpgradeFailure.Malformed, BadRequest, "Header value contains a control character");

    public static readonly UpgradeRejection InvalidUtf8 =
        new(UpgradeFailure.Malformed, BadRequest, "Header value is not valid UTF-8");

    public static readonly UpgradeRejection InvalidSubProtocol =
        new(UpgradeFailure.Malformed, BadRequest, "Sec-WebSocket-Protocol must be a comma-separated list of tokens");

    public static readonly UpgradeRejection MethodNotGet =
        new(UpgradeFailure.MethodNotGet, BadRequest, "WebSocket upgrade requires the GET method");

    public static readonly UpgradeRejection UnsupportedHttpVersion =
        new(UpgradeFailure.UnsupportedHttpVersion, BadRequest, "WebSocket upgrade requires HTTP/1.1 (HTTP/1.0 cannot upgrade)");

    public static readonly UpgradeRejection MissingHost =
        new(UpgradeFailure.MissingHost, BadRequest, "Host header is missing or empty");

    public static readonly UpgradeRejection DuplicateHost =
        new(UpgradeFailure.DuplicateHeader, BadRequest, "Host header must appear exactly once");

    public static readonly UpgradeRejection DuplicateKey =
        new(UpgradeFailure.DuplicateHeader, BadRequest, "Sec-WebSocket-Key header must appear exactly once");

    public static readonly UpgradeRejection DuplicateVersion =
        new(UpgradeFailure.DuplicateHeader, BadRequest, "Sec-WebSocket-Version header must appear exactly once");

    public static readonly UpgradeRejection DuplicateOrigin =
        new(UpgradeFailure.DuplicateHeader, BadRequest, "Origin header must appear at most once");

    public static readonly UpgradeRejection DuplicateAuthorization =
        new(UpgradeFailure.DuplicateHeader, BadRequest, "Authorization header must appear at most once");

    public static readonly UpgradeRejection UnexpectedBody =
        new(UpgradeFailure.UnexpectedBody, BadRequest, "WebSocket upgrade request must not have a body");

    public static readonly UpgradeRejection MissingUpgrade =
        new(UpgradeFailure.MissingUpgrade, UpgradeRequired, "This endpoint only accepts WebSocket upgrades (Upgrade: websocket)");

    public static readonly UpgradeRejection MissingConnectionUpgrade =
        new(UpgradeFailure.MissingConnectionUpgrade, BadRequest, "Connection header must contain the 'Upgrade' token");

    public static readonly UpgradeRejection UnsupportedVersion =
        new(UpgradeFailure.UnsupportedVersion, UpgradeRequired, "Sec-WebSocket-Version must be 13");

    public static readonly UpgradeRejection MissingKey =
        new(UpgradeFailure.MissingKey, BadRequest, "Sec-WebSocket-Key header is missing");

    public static readonly UpgradeRejection InvalidKey =
        new(UpgradeFailure.InvalidKey, BadRequest, "Sec-WebSocket-Key must be base64 of 16 bytes");

    public static readonly UpgradeRejection HeadersTooLarge =
        new(UpgradeFailure.HeadersTooLarge, HeaderFieldsTooLarge, "Request headers are too large");
}
