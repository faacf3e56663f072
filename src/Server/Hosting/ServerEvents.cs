using System.Net;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastWs.Server.Hosting;

/// <summary>
/// Where the server's per-connection decisions are logged (<see cref="ConnectionLog"/>): each event is checked against
/// its level first (nothing is formatted when it is off), then against <see cref="LogRateLimiter"/>, so a flood of
/// bad clients writes at most a few lines a second per event id plus a count of what was held back (event 1099).
/// Called when a connection is refused or closed, never per message.
/// </summary>
public sealed class ServerEvents
{
    private readonly ILogger _logger;
    private readonly LogRateLimiter _limiter;

    public ServerEvents(ILogger? logger = null, LogRateLimiter? limiter = null)
    {
        _logger = logger ?? NullLogger.Instance;
        _limiter = limiter ?? new LogRateLimiter();
    }

    /// <summary>Before the host's logging exists (and for servers built without it): nothing is written.</summary>
    public static ServerEvents None { get; } = new();

    public ILogger Logger => _logger;

    public void SlowConsumerClosed(WebSocketConnection connection, TimeSpan limit)
    {
        if (Allow(2001, nameof(SlowConsumerClosed), LogLevel.Warning))
        {
            ConnectionLog.SlowConsumerClosed(_logger, connection.ConnectionId, connection.ClientIp, limit);
        }
    }

    public void HeartbeatMissed(WebSocketConnection connection, TimeSpan pongTimeout)
    {
        if (Allow(2002, nameof(HeartbeatMissed), LogLevel.Debug))
        {
            ConnectionLog.HeartbeatMissed(_logger, connection.ConnectionId, connection.ClientIp, pongTimeout);
        }
    }

    public void CloseUnanswered(WebSocketConnection connection, TimeSpan closeTimeout)
    {
        if (Allow(2003, nameof(CloseUnanswered), LogLevel.Debug))
        {
            ConnectionLog.CloseUnanswered(_logger, connection.ConnectionId, connection.ClientIp, closeTimeout);
        }
    }

    public void ConnectionLimitRefused(IPAddress clientIp, string reason)
    {
        if (Allow(2004, nameof(ConnectionLimitRefused), LogLevel.Warning))
        {
            ConnectionLog.ConnectionLimitRefused(_logger, clientIp, reason);
        }
    }

    public void RateLimitClosed(WebSocketConnection connection, int errors)
    {
        if (Allow(2005, nameof(RateLimitClosed), LogLevel.Warning))
        {
            ConnectionLog.RateLimitClosed(_logger, connection.ConnectionId, connection.ClientIp, errors);
        }
    }

    public void KeyGroupLimitClosed(WebSocketConnection connection, string reason)
    {
        if (Allow(2006, nameof(KeyGroupLimitClosed), LogLevel.Warning))
        {
            ConnectionLog.KeyGroupLimitClosed(_logger, connection.ConnectionId, connection.ClientIp, reason);
        }
    }

    /// <summary>4001: a bad token at the upgrade (no connection id yet), in an <c>auth</c> message, or none in time.</summary>
    public void AuthFailed(string? connectionId, IPAddress clientIp, string reason)
    {
        if (Allow(2007, nameof(AuthFailed), LogLevel.Warning))
        {
            ConnectionLog.AuthFailed(_logger, connectionId, clientIp, reason);
        }
    }

    public void TokenExpired(WebSocketConnection connection)
    {
        if (Allow(2008, nameof(TokenExpired), LogLevel.Debug))
        {
            ConnectionLog.TokenExpired(_logger, connection.ConnectionId, connection.ClientIp);
        }
    }

    public void ProtocolError(WebSocketConnection connection, ushort closeCode, string reason)
    {
        if (Allow(2009, nameof(ProtocolError), LogLevel.Warning))
        {
            ConnectionLog.ProtocolError(_logger, connection.ConnectionId, connection.ClientIp, closeCode, reason);
        }
    }

    public void HandshakeRefused(IPAddress? peer, HandshakeFailure failure)
    {
        if (Allow(2010, nameof(HandshakeRefused), LogLevel.Debug))
        {
            ConnectionLog.HandshakeRefused(_logger, peer, failure);
        }
    }

    public void HandshakesTimedOut(int count, TimeSpan handshakeTimeout)
    {
        if (Allow(2011, nameof(HandshakesTimedOut), LogLevel.Debug))
        {
            ConnectionLog.HandshakesTimedOut(_logger, count, handshakeTimeout);
        }
    }

    public void ClosedById(string connectionId, ushort closeCode, string reason)
    {
        if (Allow(2012, nameof(ClosedById), LogLevel.Debug))
        {
            ConnectionLog.ClosedById(_logger, connectionId, closeCode, reason);
        }
    }

    /// <summary>An exception that escaped a socket's event handler on an epoll thread (a bug; the loop goes on).</summary>
    public void EpollLoopError(string loop, Exception exception)
    {
        if (Allow(3001, nameof(EpollLoopError), LogLevel.Error))
        {
            ConnectionLog.EpollLoopError(_logger, loop, exception);
        }
    }

    private bool Allow(int eventId, string eventName, LogLevel level)
    {
        if (!_logger.IsEnabled(level) || !_limiter.TryAcquire(eventId, out long suppressed))
        {
            return false;
        }

        if (suppressed > 0)
        {
            ServerLog.EventsSuppressed(_logger, suppressed, eventName, eventId, _limiter.MaxPerSecond);
        }

        return true;
    }
}
