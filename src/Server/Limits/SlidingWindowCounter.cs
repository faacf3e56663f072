namespace FastWs.Server.Limits;

/// <summary>
/// A sliding-window rate limit in 24 bytes per connection: the count of the current fixed window plus the
/// previous one, weighted by how much of the previous window still overlaps the sliding window
/// (the "sliding window counter" approximation). Unlike a fixed window, a burst at a window edge cannot pass
/// twice the limit; unlike a log of timestamps, its size does not grow with the limit.
/// Not thread-safe: one connection's read loop owns it.
/// </summary>
public struct SlidingWindowCounter
{
    private long _windowStart;
    private int _current;
    private int _previous;

    /// <summary>Counts one event at <paramref name="nowMs"/> if the limit allows it; returns false (and counts nothing) otherwise.</summary>
    public bool TryAcquire(long nowMs, int limit, long windowMs)
    {
        if (limit <= 0 || windowMs <= 0)
        {
            return true;
        }

        long elapsed = nowMs - _windowStart;
        if (elapsed >= windowMs)
        {
            // Roll forward: one window ago becomes "previous"; two or more ago leaves nothing.
            _previous = elapsed < 2 * windowMs ? _current : 0;
            _current = 0;
            _windowStart = elapsed < 2 * windowMs ? _windowStart + windowMs : nowMs;
            elapsed = nowMs - _windowStart;
        }

        double previousWeight = (windowMs - elapsed) / (double)windowMs;
        double estimate = (_previous * previousWeight) + _current;
        if (estimate + 1 > limit)
        {
            return false;
        }

        _current++;
        return true;
    }
}
