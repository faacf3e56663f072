using FastWs.Server.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Hosting;

/// <summary>
/// Gives heap memory back to the system once the server falls silent after allocating (a connection burst, a
/// run of HTTP calls). Why FastWs needs this: the .NET collector returns the memory it has emptied only while it
/// collects, and it collects only when something allocates, which the fan-out path never does. After 10,000
/// clients connect, about 1.8 KB per connection of emptied young-generation space would otherwise stay resident
/// until the next burst. One blocking, compacting, decommitting collection (<see cref="GCCollectionMode.Aggressive"/>)
/// fixes that, and it waits for silence (<see cref="MemoryOptions.TrimAfterIdle"/>) because it pauses every thread.
/// </summary>
internal sealed class IdleMemoryTrim : BackgroundService
{
    private readonly ServerState _state;
    private readonly ILogger<IdleMemoryTrim> _logger;
    private readonly long _quietMs;
    private readonly long _minAllocatedBytes;
    private long _lastActivity = -1;
    private long _quietSinceMs;
    private long _allocatedAtLastTrim;

    public IdleMemoryTrim(ServerState state, ILogger<IdleMemoryTrim> logger)
    {
        _state = state;
        _logger = logger;
        MemoryOptions options = state.Options.Memory;
        _quietMs = (long)options.TrimAfterIdle.TotalMilliseconds;
        _minAllocatedBytes = Math.Max(0, options.TrimMinAllocatedBytes);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_quietMs <= 0)
        {
            return;
        }

        // A few looks per quiet period, so a trim comes at most a quarter period late; never busier than 20 a second.
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Clamp(_quietMs / 4, 50, 1000)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (ShouldTrim(Environment.TickCount64, GC.GetTotalAllocatedBytes()))
                {
                    Trim();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Host is stopping.
        }
    }

    /// <summary>
    /// True when enough has been allocated since the last trim and nothing has happened for the quiet period.
    /// "Happened" is any connection opening or closing, message in or out, publish or failed handshake.
    /// </summary>
    internal bool ShouldTrim(long nowMs, long allocatedBytes)
    {
        // Every term only ever grows, so any event changes the sum. Closes are the opened that are no longer active.
        ServerMetrics m = _state.Metrics;
        long closed = m.ConnectionsTotal - m.ConnectionsActive;
        long activity = m.ConnectionsTotal + closed + m.MessagesIn + m.MessagesOut + m.Published + m.HandshakeFailuresTotal;
        if (activity != _lastActivity)
        {
            _lastActivity = activity;
            _quietSinceMs = nowMs;
            return false;
        }

        return !_state.IsShuttingDown
            && nowMs - _quietSinceMs >= _quietMs
            && allocatedBytes - _allocatedAtLastTrim >= _minAllocatedBytes;
    }

    /// <summary>A trim ran with the process's allocation count at <paramref name="allocatedBytes"/>: the next one waits for more.</summary>
    internal void RecordTrim(long allocatedBytes) => _allocatedAtLastTrim = allocatedBytes;

    private void Trim()
    {
        long residentBefore = Environment.WorkingSet;
        TimeSpan pausedBefore = GC.GetTotalPauseDuration();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        TimeSpan pause = GC.GetTotalPauseDuration() - pausedBefore;
        long released = residentBefore - Environment.WorkingSet;
        RecordTrim(GC.GetTotalAllocatedBytes());
        _state.Metrics.IdleTrimmed(pause, released);
        ServerLog.IdleMemoryTrimmed(_logger, released / (1024.0 * 1024.0), pause.TotalMilliseconds, (int)_state.Metrics.ConnectionsActive);
    }
}
