using Microsoft.Extensions.Logging;

namespace FastWs.Server.Broker;

/// <summary>
/// The state of the node's own connection to Redis, one event id each (category <c>FastWs.Broker</c>). Never per
/// message: one line per connection made or lost, and a lost connection is tried again after 250 ms, doubling to 10 s.
/// </summary>
internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Connected to Redis at {Endpoint}: {Carries}")]
    public static partial void Connected(ILogger logger, string endpoint, string carries);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "No connection to Redis at {Endpoint} ({Reason}); trying again in {BackoffMs} ms")]
    public static partial void ConnectionFailed(ILogger logger, string endpoint, string reason, int backoffMs);
}
