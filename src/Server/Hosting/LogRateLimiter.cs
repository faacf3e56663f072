namespace FastWs.Server.Hosting;

/// <summary>
/// At most <see cref="MaxPerSecond"/> log events per event id per second: what lets per-connection warnings stay on
/// without a flood of bad clients filling a disk. What it holds back is counted, and reported with the next event
/// of that id that passes (see <see cref="ServerEvents"/>, event 1099). Not on any per-message path: it is asked only
/// when a connection is refused or closed.
/// </summary>
public sealed class LogRateLimiter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Window> _windows = [];
    private readonly Func<long> _clockMs;

    /// <param name="maxPerSecond">Events per id per second that pass; 0 lets everything through.</param>
    /// <param name="clockMs">Milliseconds of a monotonic clock (tests pass their own).</param>
    public LogRateLimiter(int maxPerSecond = DefaultMaxPerSecond, Func<long>? clockMs = null)
    {
        MaxPerSecond = maxPerSecond;
        _clockMs = clockMs ?? (() => Environment.TickCount64);
    }

    public const int DefaultMaxPerSecond = 10;

    public int MaxPerSecond { get; }

    /// <summary>
    /// Whether an event of <paramref name="eventId"/> may be written now; when it may, <paramref name="suppressed"/> is
    /// the number held back since the last one that passed (to report first).
    /// </summary>
    public bool TryAcquire(int eventId, out long suppressed)
    {
        suppressed = 0;
        if (MaxPerSecond <= 0)
        {
            return true;
        }

        long now = _clockMs();
        lock (_lock)
        {
            if (!_windows.TryGetValue(eventId, out Window? window))
            {
                window = new Window { StartMs = now };
                _windows[eventId] = window;
            }

            if (now - window.StartMs >= 1000)
            {
                window.StartMs = now;
                window.Count = 0;
            }

            if (window.Count >= MaxPerSecond)
            {
                window.Suppressed++;
                return false;
            }

            window.Count++;
            suppressed = window.Suppressed;
            window.Suppressed = 0;
            return true;
        }
    }

    private sealed class Window
    {
        public long StartMs;
        public int Count;
        public long Suppressed;
    }
}
