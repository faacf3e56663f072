using Microsoft.Extensions.Logging;

namespace FastWs.Server.Hosting;

/// <summary>
/// The server's life: start, shutdown, warm-up, TLS certificates, memory trims (category <c>FastWs.Server</c> and
/// the classes that log them). Event ids are stable: docs/operations.md lists them; add new ones, never renumber.
/// </summary>
public static partial class ServerLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "FastWs started: WebSocket endpoint {WebSocketUri} ({Transport} transport), HTTP endpoint {HttpUri}")]
    public static partial void Started(ILogger logger, Uri webSocketUri, TransportEngine transport, Uri httpUri);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Shutdown begun: refusing new connections and publishes, closing {Connections} connections with 1001")]
    public static partial void ShutdownBegun(ILogger logger, int connections);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Shutdown done: {Unanswered} connections dropped without answering the close")]
    public static partial void ShutdownDone(ILogger logger, int unanswered);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Warm-up connection served in {Milliseconds} ms; ready")]
    public static partial void WarmUpServed(ILogger logger, long milliseconds);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Information, Message = "Token checks warmed up in {Milliseconds} ms ({Accepted} of {Tried} throwaway tokens accepted)")]
    public static partial void TokenChecksWarmedUp(ILogger logger, long milliseconds, int accepted, int tried);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "Warm-up connection failed after {Milliseconds} ms ({Reason}); ready anyway, the first client pays the start-up cost")]
    public static partial void WarmUpFailed(ILogger logger, long milliseconds, string reason);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "TLS on the {Endpoint} endpoint: {Certificate}")]
    public static partial void TlsCertificateInUse(ILogger logger, string endpoint, string certificate);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "TLS certificate of {Setting} reloaded: {Certificate}")]
    public static partial void TlsCertificateReloaded(ILogger logger, string setting, string certificate);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Warning, Message = "TLS certificate of {Setting} not reloaded, the one in use stays: {Reason}")]
    public static partial void TlsCertificateReloadFailed(ILogger logger, string setting, string reason);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Warning, Message = "TLS certificate files of {Setting} could not be checked, the certificate in use stays: {Reason}")]
    public static partial void TlsCertificateCheckFailed(ILogger logger, string setting, string reason);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Information, Message = "Idle memory trim: {ReleasedMiB:F1} MiB returned, paused {PauseMs:F1} ms ({Connections} connections)")]
    public static partial void IdleMemoryTrimmed(ILogger logger, double releasedMiB, double pauseMs, int connections);

    [LoggerMessage(EventId = 1099, Level = LogLevel.Warning, Message = "{Suppressed} more '{EventName}' events (id {SuppressedEventId}) were not logged (at most {MaxPerSecond} per second)")]
    public static partial void EventsSuppressed(ILogger logger, long suppressed, string eventName, int suppressedEventId, int maxPerSecond);
}
