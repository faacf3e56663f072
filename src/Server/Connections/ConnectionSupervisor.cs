using FastWs.Protocol.Frames;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Connections;

/// <summary>
/// The one ticking loop for all connections (no timer per connection, so 100,000 idle connections cost nothing
/// between ticks). Each tick it: aborts upgrades that exceeded the handshake timeout; drops connections that left
/// the server's close frame unanswered for CloseTimeout; pings connections whose interval has passed and drops those
/// silent for too long after a ping; checks token lifetimes (TokenLifetime); closes clients that have stayed over
/// the unsent-output limit for too long (1013); removes channel states whose retention has passed; and samples the
/// per-second rates (and, on the same second, the dashboard's sample).
/// </summary>
internal sealed class ConnectionSupervisor : BackgroundService
{
    private readonly ServerState _state;
    private readonly TimeSpan _tick;

    public ConnectionSupervisor(ServerState state)
    {
        _state = state;
        _tick = TickInterval(state.Options);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_tick);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Sweep();
            }
        }
        catch (OperationCanceledException)
        {
            // Host is stopping.
        }
    }

    internal void Sweep()
    {
        FastWsOptions options = _state.Options;
        // Zero (or less) switches the handshake timeout off, as 0 does for the other limits; it must not mean "abort at once".
        int expired = options.HandshakeTimeout > TimeSpan.Zero ? _state.PendingHandshakes.AbortExpired(options.HandshakeTimeout) : 0;
        for (int i = 0; i < expired; i++)
        {
            _state.Metrics.HandshakeFailed(HandshakeFailure.Timeout);
        }

        if (expired > 0)
        {
            _state.Log.HandshakesTimedOut(expired, options.HandshakeTimeout);
        }

        long now = Environment.TickCount64;
        long pingIntervalMs = (long)options.Heartbeat.PingInterval.TotalMilliseconds;
        long pongTimeoutMs = (long)options.Heartbeat.PongTimeout.TotalMilliseconds;
        TimeSpan slowLimit = options.SlowConsumer.MaxCongestedTime;
        DateTime nowUtc = DateTime.UtcNow;
        long closeTimeoutMs = (long)options.CloseTimeout.TotalMilliseconds;

        foreach (WebSocketConnection connection in _state.Connections.All)
        {
            if (pingIntervalMs > 0)
            {
                HeartbeatState heartbeat = connection.CheckHeartbeat(now, pingIntervalMs, pongTimeoutMs);
                if (heartbeat == HeartbeatState.PingSent)
                {
                    _state.Metrics.HeartbeatSent();
                }
                else if (heartbeat == HeartbeatState.TimedOut)
                {
                    _state.Metrics.HeartbeatMissed();
                    _state.Log.HeartbeatMissed(connection, options.Heartbeat.PongTimeout);
                    connection.TrySendClose(CloseCode.GoingAway, "No answer to ping");
                    connection.Abort("Heartbeat timeout");
                    continue;
                }
            }

            if (closeTimeoutMs > 0 && connection.CloseUnansweredFor(now, closeTimeoutMs))
            {
                _state.Log.CloseUnanswered(connection, options.CloseTimeout);
                connection.Abort("Close not answered in time");
                continue;
            }

            if (connection.Auth is { } auth)
            {
                TokenLifetime.Check(connection, auth, now, nowUtc, options.Auth, _state.Metrics, _state.Log);
            }

            if (connection.CongestedFor > slowLimit)
            {
                _state.Metrics.SlowConsumerClosed();
                _state.Log.SlowConsumerClosed(connection, slowLimit);
                // The client is not reading, so it will likely never see the close frame: drop it right after.
                connection.TrySendClose(CloseCode.TryAgainLater, "Slow consumer: output backlog over limit");
                connection.Abort("Slow consumer");
            }
        }

        // Channel states kept for a Retention after their last subscriber left: the expired ones go.
        _state.Channels.RemoveExpired(now);

        // Half a tick of tolerance: with a 1 s tick, a tick arriving a millisecond early must not skip a second. The
        // dashboard samples the same second: one timer for both, however many dashboards are open.
        if (_state.Metrics.Rates.Sample((long)_tick.TotalMilliseconds / 2))
        {
            _state.Dashboard.Sample();
        }
    }

    /// <summary>A quarter of the shortest configured interval, to honour short limits in tests, within 50 ms..1 s.</summary>
    internal static TimeSpan TickInterval(FastWsOptions options)
    {
        TimeSpan shortest = options.SlowConsumer.MaxCongestedTime;
        foreach (TimeSpan candidate in new[] { options.HandshakeTimeout, options.Heartbeat.PingInterval, options.Heartbeat.PongTimeout, options.Auth.Timeout })
        {
            if (candidate > TimeSpan.Zero && candidate < shortest)
            {
                shortest = candidate;
            }
        }

        return TimeSpan.FromMilliseconds(Math.Clamp(shortest.TotalMilliseconds / 4, 50, 1000));
    }
}
