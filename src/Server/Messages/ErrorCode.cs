namespace FastWs.Server.Messages;

/// <summary>The "code" values of error replies (docs/protocol.md).</summary>
public static class ErrorCode
{
    public const string BadRequest = "bad_request";
    public const string InvalidChannel = "invalid_channel";
    public const string Forbidden = "forbidden";
    public const string LimitExceeded = "limit_exceeded";
    public const string RateLimited = "rate_limited";
    public const string Unavailable = "unavailable";

    /// <summary>With FastWs:Auth:Required, a request that needs the connection's token before it has come.</summary>
    public const string Unauthorized = "unauthorized";
}
