using FastWs.Protocol.Frames;
using FastWs.Server.Hosting;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Connections;

/// <summary>
/// One ticking loop for all connections (not a timer each): closes clients that have stayed over the
/// unsent-output limit for longer than allowed, and drops those that did not answer a server close in time.
/// </summary>
internal sealed class ConnectionSupervisor : BackgroundService
{
    private readonly ServerState _state;

    public ConnectionSupervisor(ServerState state)
    {
        _state = state;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        TimeSpan tick = TickInterval(_state.Options);
        using var timer = new PeriodicTimer(tick);
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
        TimeSpan slowLimit = _state.Options.SlowConsumer.MaxCongestedTime;
        foreach (WebSocketConnection connection in _state.Connections.All)
        {
            if (connection.CongestedFor > slowLimit)
            {
                _state.Metrics.SlowConsumerClosed();
                // The client is not reading, so it will likely never see the close frame: drop it right after.
                connection.TrySendClose(CloseCode.TryAgainLater, "Slow consumer: output backlog over limit");
                connection.Abort("Slow consumer");
            }
        }
    }

    /// <summary>Fine enough to honour short limits in tests, never busier than 10 times a second.</summary>
    private static TimeSpan TickInterval(FastWsOptions options)
    {
        TimeSpan quarter = options.SlowConsumer.MaxCongestedTime / 4;
        return TimeSpan.FromMilliseconds(Math.Clamp(quarter.TotalMilliseconds, 100, 1000));
    }
}
