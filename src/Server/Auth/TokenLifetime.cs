using System.Text.Json;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Messages;
using FastWs.Server.Metrics;

namespace FastWs.Server.Auth;

/// <summary>
/// The time side of a connection's identity, checked by the supervisor's sweep (the one timer for all connections):
/// the wait for a first token running out, and a token running out. No timer per connection.
/// </summary>
internal static class TokenLifetime
{
    /// <summary>Called for each connection that carries a <see cref="ConnectionAuth"/>, once per supervisor tick.</summary>
    public static void Check(WebSocketConnection connection, ConnectionAuth auth, long nowMs, DateTime nowUtc, AuthOptions options, ServerMetrics metrics, ServerEvents? log = null)
    {
        if (auth.IsAwaiting)
        {
            CheckWait(connection, auth, nowMs, options, metrics, log);
            return;
        }

        if (auth.User?.ExpiresUtc is not { } expires)
        {
            return;
        }

        // The clock skew the token was accepted with holds to the end: a token is refused at upgrade only past
        // exp + skew, so a connection is not closed before then either.
        DateTime deadline = expires + options.Jwt.ClockSkew;
        if (nowUtc >= deadline)
        {
            if (connection.TrySendClose(AuthCloseCode.TokenExpired, "token expired"))
            {
                metrics.TokenExpired();
                log?.TokenExpired(connection);
            }

            return;
        }

        TimeSpan left = deadline - nowUtc;
        if (options.ExpiryWarning <= TimeSpan.Zero || left > options.ExpiryWarning)
        {
            return;
        }

        lock (auth)
        {
            if (auth.WarningSent || auth.User?.ExpiresUtc != expires)
            {
                return; // warned already, or refreshed meanwhile
            }

            auth.WarningSent = true;
        }

        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "token_expiring"u8);
        json.WriteNumber("in"u8, (long)Math.Ceiling(left.TotalSeconds));
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());
        connection.Flush();
    }

    /// <summary>
    /// A connection that came without a token and has not sent one in time: closed with 4001 when tokens are required,
    /// otherwise it stays anonymous and the subscriptions that waited for a user are refused.
    /// </summary>
    private static void CheckWait(WebSocketConnection connection, ConnectionAuth auth, long nowMs, AuthOptions options, ServerMetrics metrics, ServerEvents? log)
    {
        List<string>? refused;
        lock (auth)
        {
            if (!auth.IsAwaiting || nowMs < auth.AwaitUntilMs)
            {
                return;
            }

            refused = auth.GiveUp();
        }

        if (options.Required)
        {
            metrics.AuthFailed(AuthFailure.Timeout);
            log?.AuthFailed(connection.ConnectionId, connection.ClientIp, AuthFailures.Reason(AuthFailure.Timeout));
            connection.TrySendClose(AuthCloseCode.InvalidToken, AuthFailures.Reason(AuthFailure.Timeout));
            return;
        }

        if (refused is null)
        {
            return;
        }

        foreach (string channel in refused)
        {
            metrics.ErrorSent();
            connection.CountErrorSent();
            connection.WriteControl(ReplyEncoder.Error(ErrorCode.Forbidden, "No token came within FastWs:Auth:Timeout; this channel needs a user", channel, default));
        }

        connection.Flush();
    }
}
