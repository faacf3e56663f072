namespace FastWs.Server.Metrics;

/// <summary>
/// Per-second rates over the last 60 seconds for the main counters, from one sample a second (taken by the
/// supervisor's tick, so no extra timer). Readers get copies; the ring itself is guarded by a small lock that
/// the hot paths never touch.
/// </summary>
public sealed class RateHistory
{
    public const int Seconds = 60;

    private readonly ServerMetrics _metrics;
    private readonly Lock _lock = new();
    private readonly RateSample[] _ring = new RateSample[Seconds];
    private int _next;
    private int _filled;
    private RateSample _last;
    private long _lastTimestamp;

    internal RateHistory(ServerMetrics metrics)
    {
        _metrics = metrics;
    }

    /// <summary>
    /// Takes a sample if a second has passed since the last one, give or take <paramref name="toleranceMs"/>: a caller
    /// ticking about once a second passes half its tick, or timer jitter (a tick landing at 999 ms) would skip every
    /// other sample. The rates are scaled by the real elapsed time either way. Returns true when it took one (the
    /// dashboard samples its second then).
    /// </summary>
    internal bool Sample(long toleranceMs = 0)
    {
        long now = Environment.TickCount64;
        var current = new RateSample(_metrics.MessagesOut, _metrics.BytesOut, _metrics.MessagesIn, _metrics.BytesIn, _metrics.Published);
        lock (_lock)
        {
            if (_lastTimestamp == 0)
            {
                _last = current;
                _lastTimestamp = now;
                return false;
            }

            long elapsedMs = now - _lastTimestamp;
            if (elapsedMs < 1000 - toleranceMs)
            {
                return false;
            }

            double scale = 1000.0 / elapsedMs;
            _ring[_next] = new RateSample(
                (long)((current.MessagesOut - _last.MessagesOut) * scale),
                (long)((current.BytesOut - _last.BytesOut) * scale),
                (long)((current.MessagesIn - _last.MessagesIn) * scale),
                (long)((current.BytesIn - _last.BytesIn) * scale),
                (long)((current.Published - _last.Published) * scale));
            _next = (_next + 1) % Seconds;
            _filled = Math.Min(_filled + 1, Seconds);
            _last = current;
            _lastTimestamp = now;
            return true;
        }
    }

    /// <summary>The most recent full second.</summary>
    public RateSample Latest
    {
        get
        {
            lock (_lock)
            {
                return _filled == 0 ? default : _ring[(_next + Seconds - 1) % Seconds];
            }
        }
    }

    /// <summary>Oldest first, at most 60 entries.</summary>
    public RateSample[] History()
    {
        lock (_lock)
        {
            var copy = new RateSample[_filled];
            for (int i = 0; i < _filled; i++)
            {
                copy[i] = _ring[(_next - _filled + i + Seconds) % Seconds];
            }

            return copy;
        }
    }
}

/// <summary>Per-second values (or raw counter values while sampling).</summary>
public readonly record struct RateSample(long MessagesOut, long BytesOut, long MessagesIn, long BytesIn, long Published);
