using FastWs.Server.Connections;

namespace FastWs.Server.FanOut;

/// <summary>
/// Write coalescing for every connection of every namespace with a <c>WriteDelay</c>: a subscriber's data for such a
/// namespace is held in its output instead of going to the socket, and sent when the delay after the first held
/// message ends, together with whatever else came for it meanwhile: one <c>send</c> for several messages.
/// </summary>
/// <remarks>
/// <para>
/// One timer structure for all connections, as the <see cref="Conflator"/> has for channels: a due queue (a min-heap of
/// connections by when their delay ends) and one timer armed for its earliest entry. A connection is in it only while it
/// holds data, so idle connections cost nothing. Fan-out adds a run's held subscribers in one call under one lock; with
/// one delay per namespace their deadlines only grow, so each insertion is one comparison with its heap parent.
/// </para>
/// <para>
/// While messages flow, the fan-out thread flushes what is due at the end of each batch it delivers
/// (<see cref="FlushDue"/>), so the held bytes leave on the thread that was sending anyway and the timer, which runs
/// its callback on a thread-pool thread (a wake-up and a thread switch for every flush), only catches connections whose
/// namespaces went quiet. Whoever comes first flushes; the other finds nothing due.
/// </para>
/// <para>
/// Anything else that flushes the connection (a delivery of a namespace without delay, a reply, a ping, a close) takes
/// the held bytes with it; its entry here is then stale, and the connection ignores it (see
/// <see cref="WebSocketConnection.FlushHeld"/>). Namespaces without a delay never come here: their writes are exactly
/// what they were without this class.
/// </para>
/// </remarks>
internal sealed class WriteCoalescer : IDisposable
{
    /// <summary>
    /// Entries this close to their deadline are flushed with the ones that are due: the timer has millisecond
    /// resolution, and waking again a fraction of a millisecond later would cost a wake-up and add to the delay.
    /// </summary>
    private static readonly TimeSpan Tolerance = TimeSpan.FromMicroseconds(250);

    private readonly TimeProvider _time;
    private readonly long _toleranceTicks;
    private readonly Lock _dueLock = new();
    private readonly PriorityQueue<WebSocketConnection, long> _due = new();
    private readonly ITimer _timer;
    private long _armedFor = long.MaxValue;
    private bool _disposed;

    /// <summary>The earliest deadline in the queue (long.MaxValue when empty): written under the due lock, read without it by <see cref="FlushDue"/>.</summary>
    private long _earliest = long.MaxValue;

    // Only the timer callback uses these (one callback at a time, under _fireLock).
    private readonly Lock _fireLock = new();
    private readonly List<(WebSocketConnection Connection, long Due)> _firing = [];

    public WriteCoalescer(TimeProvider time)
    {
        _time = time;
        _toleranceTicks = ToTicks(Tolerance);
        _timer = time.CreateTimer(static state => ((WriteCoalescer)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Connections holding data (entries made stale by an earlier flush included).</summary>
    public int Waiting
    {
        get
        {
            lock (_dueLock)
            {
                return _due.Count;
            }
        }
    }

    /// <summary>When data held now with <paramref name="delay"/> is due (a <see cref="TimeProvider"/> timestamp).</summary>
    public long DueAfter(TimeSpan delay) => _time.GetTimestamp() + ToTicks(delay);

    /// <summary>
    /// Schedules the flush of <paramref name="connections"/> (which just started holding data, with this deadline) at
    /// <paramref name="due"/>, and clears the list.
    /// </summary>
    public void Hold(List<WebSocketConnection> connections, long due)
    {
        lock (_dueLock)
        {
            foreach (WebSocketConnection connection in connections)
            {
                _due.Enqueue(connection, due);
            }

            if (due < _earliest)
            {
                Volatile.Write(ref _earliest, due);
            }

            if (due < _armedFor)
            {
                Arm(due);
            }
        }

        connections.Clear();
    }

    /// <summary>Flushes every held connection now, whatever its deadline (shutdown: nothing is left behind).</summary>
    public void FlushAll()
    {
        List<(WebSocketConnection, long)> all;
        lock (_dueLock)
        {
            all = [.. _due.UnorderedItems];
            _due.Clear();
            Volatile.Write(ref _earliest, long.MaxValue);
        }

        foreach ((WebSocketConnection connection, long due) in all)
        {
            connection.FlushHeld(due);
        }
    }

    public void Dispose()
    {
        lock (_dueLock)
        {
            _disposed = true;
        }

        _timer.Dispose();
        FlushAll();
    }

    /// <summary>
    /// Called by a fan-out shard after each batch it delivered, on its own thread: flushes the connections whose delay
    /// has ended (into <paramref name="scratch"/>, the shard's own list). Costs one field read while nothing is held
    /// (every namespace without a delay: always).
    /// </summary>
    public void FlushDue(List<(WebSocketConnection Connection, long Due)> scratch)
    {
        long earliest = Volatile.Read(ref _earliest);
        if (earliest == long.MaxValue)
        {
            return;
        }

        long horizon = _time.GetTimestamp() + _toleranceTicks;
        if (earliest > horizon)
        {
            return;
        }

        lock (_dueLock)
        {
            TakeDue(horizon, scratch);
        }

        Flush(scratch);
    }

    /// <summary>The timer: flushes the connections whose delay has ended, then re-arms for the next.</summary>
    private void OnTimer()
    {
        lock (_fireLock)
        {
            lock (_dueLock)
            {
                _armedFor = long.MaxValue;
                TakeDue(_time.GetTimestamp() + _toleranceTicks, _firing);
                if (_due.TryPeek(out _, out long next))
                {
                    Arm(next);
                }
            }

            Flush(_firing);
        }
    }

    /// <summary>Moves the entries due by <paramref name="horizon"/> into <paramref name="into"/>. Under the due lock.</summary>
    private void TakeDue(long horizon, List<(WebSocketConnection Connection, long Due)> into)
    {
        while (_due.TryPeek(out WebSocketConnection? connection, out long due) && due <= horizon)
        {
            _due.Dequeue();
            into.Add((connection, due));
        }

        Volatile.Write(ref _earliest, _due.TryPeek(out _, out long next) ? next : long.MaxValue);
    }

    private static void Flush(List<(WebSocketConnection Connection, long Due)> entries)
    {
        foreach ((WebSocketConnection connection, long due) in entries)
        {
            connection.FlushHeld(due);
        }

        entries.Clear();
    }

    /// <summary>Arms the one timer for <paramref name="due"/>. Under the due lock.</summary>
    private void Arm(long due)
    {
        if (_disposed)
        {
            return;
        }

        _armedFor = due;
        long wait = Math.Max(0, due - _time.GetTimestamp());
        _timer.Change(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), Timeout.InfiniteTimeSpan);
    }

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}
