namespace FastWs.Server.Auth;

/// <summary>FastWs's own close codes (RFC 6455's private-use range), sent after a successful upgrade so browsers can read them.</summary>
public static class AuthCloseCode
{
    /// <summary>The token is missing where required, invalid, or names a different user than the connection's.</summary>
    public const ushort InvalidToken = 4001;

    /// <summary>The connection's token expired and no new one came in time.</summary>
    public const ushort TokenExpired = 4002;
}
