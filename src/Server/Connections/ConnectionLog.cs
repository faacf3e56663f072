using System.Net;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Connections;

/// <summary>
/// Every close and refusal the server decides, one event id each (category <c>FastWs.Connections</c>); written through
/// <see cref="Hosting.ServerEvents"/>, which rate-limits them. Warning: a client broke a rule or a limit was hit
/// (what an operator acts on); Debug: routine per-connection ends. Never per message.
/// </summary>
public static partial class ConnectionLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Closed {ConnectionId} from {ClientIp} with 1013: slow consumer, unsent output over the limit for longer than {MaxCongestedTime}")]
    public static partial void SlowConsumerClosed(ILogger logger, string? connectionId, IPAddress clientIp, TimeSpan maxCongestedTime);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Dropped {ConnectionId} from {ClientIp}: no answer to a ping within {PongTimeout}")]
    public static partial void HeartbeatMissed(ILogger logger, string? connectionId, IPAddress clientIp, TimeSpan pongTimeout);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Dropped {ConnectionId} from {ClientIp}: the server's close frame was not answered within {CloseTimeout}")]
    public static partial void CloseUnanswered(ILogger logger, string? connectionId, IPAddress clientIp, TimeSpan closeTimeout);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Refused a connection from {ClientIp} with 1008: {Reason}")]
    public static partial void ConnectionLimitRefused(ILogger logger, IPAddress clientIp, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Closed {ConnectionId} from {ClientIp} with 1008: rate limit exceeded {Errors} times")]
    public static partial void RateLimitClosed(ILogger logger, string? connectionId, IPAddress clientIp, int errors);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Closed {ConnectionId} from {ClientIp} with 1008: {Reason}")]
    public static partial void KeyGroupLimitClosed(ILogger logger, string? connectionId, IPAddress clientIp, string reason);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Closed {ConnectionId} from {ClientIp} with 4001: {Reason}")]
    public static partial void AuthFailed(ILogger logger, string? connectionId, IPAddress clientIp, string reason);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Debug, Message = "Closed {ConnectionId} from {ClientIp} with 4002: token expired")]
    public static partial void TokenExpired(ILogger logger, string? connectionId, IPAddress clientIp);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Warning, Message = "Closed {ConnectionId} from {ClientIp} with {CloseCode}: {Reason}")]
    public static partial void ProtocolError(ILogger logger, string? connectionId, IPAddress clientIp, ushort closeCode, string reason);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Debug, Message = "Refused an upgrade from {Peer}: {Failure}")]
    public static partial void HandshakeRefused(ILogger logger, IPAddress? peer, Metrics.HandshakeFailure failure);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Debug, Message = "Aborted {Count} upgrades not complete within {HandshakeTimeout}")]
    public static partial void HandshakesTimedOut(ILogger logger, int count, TimeSpan handshakeTimeout);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Debug, Message = "Closing {ConnectionId} with {CloseCode} by request of the API: {Reason}")]
    public static partial void ClosedById(ILogger logger, string connectionId, ushort closeCode, string reason);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Unhandled exception in epoll loop {Loop}; the loop goes on")]
    public static partial void EpollLoopError(ILogger logger, string loop, Exception exception);
}
