using FastWs.Server.Channels;
using FastWs.Server.Connections;

namespace FastWs.Server.FanOut;

/// <summary>
/// Write coalescing for every connection of every namespace with a <c>WriteDelay</c>: a subscriber's data for such a
/// namespace is held in its output instead of going to the socket, and sent when the delay after the first held
/// message ends, together with whatever else came for it meanwhile: one <c>send</c> for several messages.
/// </summary>
/// <remarks>
/// <para>
/// One timer structure for all connections, as the <see cref="Conflator"/> has for channels: a due queue (a min-heap by
/// when a delay ends) and one timer armed for its earliest entry. An entry is a <see cref="HeldGroup"/>: the subscribers
/// that started holding with one run of one channel, which share its deadline, so a run costs one heap entry whatever
/// its subscriber count. Only runs that started a hold are in it, so idle connections cost nothing.
/// </para>
/// <para>
/// A group is also in its channel's queue (<see cref="Channel.HeldGroups"/>): the channel's next run that will take
/// its subscribers' held bytes with it (<see cref="Horizon"/>) takes the group out of the timer's hands before it
/// writes, and moves the timer to the next deadline still owed, so in a steady stream the timer never wakes for
/// writes the fan-out sends anyway (a wake-up is tens of µs of CPU on a busy machine).
/// </para>
/// <para>
/// While messages flow, the fan-out thread flushes what is due at the end of each batch it delivers
/// (<see cref="FlushDue"/>), so the held bytes leave on the thread that was sending anyway. The timer
/// (<see cref="DeadlineTimer"/>: a <c>timerfd</c> with a thread of its own on Linux, on time to the scheduler's
/// wake-up) flushes the connections whose next message has not come by their deadline. Whoever comes first
/// flushes; the other finds nothing due.
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
    /// Entries this close to their deadline are flushed with the ones that are due: waking again a fraction of a
    /// millisecond later would cost a wake-up for little more to send.
    /// </summary>
    private static readonly TimeSpan Tolerance = TimeSpan.FromMicroseconds(250);

    /// <summary>How soon the timer looks again when it found a fan-out delivering (which flushes what is due as it ends).</summary>
    private static readonly TimeSpan DeferWhileDelivering = TimeSpan.FromMicroseconds(250);

    private readonly TimeProvider _time;
    private readonly long _toleranceTicks;
    private readonly long _deferTicks;
    private readonly Lock _dueLock = new();
    private readonly PriorityQueue<HeldGroup, long> _due = new();
    private readonly Stack<HeldGroup> _free = new();
    private readonly DeadlineTimer _timer;
    private long _armedFor = long.MaxValue;
    private int _waiting;
    private bool _disposed;

    /// <summary>The earliest deadline in the queue (long.MaxValue when empty): written under the due lock, read without it by <see cref="FlushDue"/>.</summary>
    private long _earliest = long.MaxValue;

    // Only the timer callback uses these (one callback at a time, under _fireLock).
    private readonly Lock _fireLock = new();
    private readonly List<(WebSocketConnection Connection, long Due)> _firing = [];

    // What the held writes became, for /ws/stats: flushed by a fan-out batch or by the timer, and how late the timer was.
    private long _flushedByFanOut;
    private long _flushedEarly;
    private long _flushedByTimer;
    private long _timerFires;
    private long _timerLateTicks;
    private long _timerLateMaxTicks;
    private long _timerDeferred;
    private long _deferredFor = long.MinValue;

    public WriteCoalescer(TimeProvider time)
    {
        _time = time;
        _toleranceTicks = ToTicks(Tolerance);
        _deferTicks = ToTicks(DeferWhileDelivering);
        _timer = DeadlineTimer.Create(time, OnTimer);
    }

    /// <summary>Connections holding data (those an earlier flush emptied included, until their group is taken).</summary>
    public int Waiting
    {
        get
        {
            lock (_dueLock)
            {
                return _waiting;
            }
        }
    }

    /// <summary>Held writes sent by a fan-out batch that reached (or nearly reached) their deadline.</summary>
    public long FlushedByFanOut => Volatile.Read(ref _flushedByFanOut);

    /// <summary>Held writes sent before their deadline with a run of messages after which no more were expected in time (see <see cref="Horizon"/>).</summary>
    public long FlushedEarly => Volatile.Read(ref _flushedEarly);

    /// <summary>Counts held writes a fan-out batch flushes early (see <see cref="Horizon"/>).</summary>
    public void FlushingEarly(int connections) => Interlocked.Add(ref _flushedEarly, connections);

    /// <summary>Held writes sent by the timer: their namespace went quiet before their deadline.</summary>
    public long FlushedByTimer => Volatile.Read(ref _flushedByTimer);

    /// <summary>Timer wake-ups that found a fan-out delivering and left what was due to it.</summary>
    public long TimerDeferred
    {
        get
        {
            lock (_fireLock)
            {
                return _timerDeferred;
            }
        }
    }

    /// <summary>Timer wake-ups, and how late they were after the earliest deadline they served (µs): mean and worst.</summary>
    public (long Fires, double MeanLateMicroseconds, double MaxLateMicroseconds) TimerLateness
    {
        get
        {
            lock (_fireLock)
            {
                double perTick = 1e6 / _time.TimestampFrequency;
                return (_timerFires, _timerFires == 0 ? 0 : _timerLateTicks * perTick / _timerFires, _timerLateMaxTicks * perTick);
            }
        }
    }

    /// <summary>
    /// Called by the fan-out for each run of <paramref name="channel"/>'s messages in a namespace with a write delay:
    /// <paramref name="holdUntil"/> is the deadline of a subscriber that starts holding with this run, and the result
    /// the flush horizon: a subscriber already holding with a deadline before it is flushed with this run (at once, or
    /// at the end of the batch when more of it is for that subscriber), instead of waiting for its deadline. Their
    /// groups leave the due queue now (see <see cref="TakeLeavingWithRun"/>); their connections are added to
    /// <paramref name="leaving"/>, for <see cref="FlushLeaving"/> after the batch.
    /// </summary>
    /// <remarks>
    /// The horizon is now plus three quarters of the channel's smoothed interval between runs, capped at half the
    /// delay: a held write whose deadline comes before the channel's next message is expected gains nothing by
    /// waiting for it (nothing more would join it), so it leaves now, on the fan-out thread that is sending anyway,
    /// with this run's messages in it. At one message per millisecond and 2 ms that is the third message's run: three
    /// messages per write, and the timer is left for channels gone quiet. A burst after a pause (a long interval) is
    /// capped at half the delay, so a write never leaves more than half the delay early.
    /// </remarks>
    public long Horizon(Channel channel, TimeSpan delay, List<(WebSocketConnection Connection, long Due)> leaving, out long holdUntil)
    {
        long now = _time.GetTimestamp();
        long delayTicks = ToTicks(delay);
        holdUntil = now + delayTicks;
        long last = channel.LastHeldRunAt;
        channel.LastHeldRunAt = now;
        long horizon = now;
        if (last != 0)
        {
            // A pause of more than the delay tells nothing about the next interval (a channel waking up): cap it there.
            long interval = Math.Min(now - last, delayTicks);
            long smoothed = channel.RunInterval == 0 ? interval : channel.RunInterval + ((interval - channel.RunInterval) >> 2);
            channel.RunInterval = smoothed;
            horizon = now + Math.Min(smoothed * 3 / 4, delayTicks / 2);
        }

        if (channel.HeldGroups is { Count: > 0 } groups)
        {
            TakeLeavingWithRun(groups, horizon, leaving);
        }

        return horizon;
    }

    /// <summary>
    /// Takes <paramref name="channel"/>'s groups due by <paramref name="horizon"/> out of the due queue: this run
    /// sends their held bytes (<see cref="WebSocketConnection"/>'s hold flushes them when the deadline is before the
    /// horizon). Their connections go into <paramref name="leaving"/> for <see cref="FlushLeaving"/> after the batch,
    /// which finds nothing held for those the run wrote to, and flushes any it did not (unsubscribed meanwhile, say).
    /// </summary>
    private void TakeLeavingWithRun(Queue<HeldGroup> groups, long horizon, List<(WebSocketConnection, long)> leaving)
    {
        lock (_dueLock)
        {
            bool took = false;
            while (groups.TryPeek(out HeldGroup? group))
            {
                if (!group.Taken)
                {
                    if (group.Due > horizon)
                    {
                        break;
                    }

                    Take(group, leaving);
                    took = true;
                }

                groups.Dequeue();
                Release(group);
            }

            if (took)
            {
                // The timer was armed for one of them, most likely: move it to the first deadline still owed.
                DropTakenAtTop();
                if (_due.TryPeek(out _, out long next))
                {
                    if (next != _armedFor)
                    {
                        Arm(next);
                    }
                }
                else if (_armedFor != long.MaxValue && !_disposed)
                {
                    _armedFor = long.MaxValue;
                    _timer.Disarm();
                }
            }
        }
    }

    /// <summary>
    /// After a batch, on the fan-out thread: flushes what <see cref="Horizon"/> took for its runs (nothing, for every
    /// connection a run wrote to) and clears the list.
    /// </summary>
    public void FlushLeaving(List<(WebSocketConnection Connection, long Due)> leaving)
    {
        if (leaving.Count > 0)
        {
            Interlocked.Add(ref _flushedEarly, Flush(leaving));
        }
    }

    /// <summary>
    /// Schedules the flush of <paramref name="connections"/> (which just started holding data with a run of
    /// <paramref name="channel"/>, with this deadline) at <paramref name="due"/>, as one group, and clears the list.
    /// </summary>
    public void Hold(Channel channel, List<WebSocketConnection> connections, long due)
    {
        lock (_dueLock)
        {
            HeldGroup group = _free.TryPop(out HeldGroup? free) ? free : new HeldGroup();
            group.Fill(connections, due);
            _waiting += connections.Count;
            _due.Enqueue(group, due);
            (channel.HeldGroups ??= new Queue<HeldGroup>()).Enqueue(group);
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
        List<(WebSocketConnection, long)> all = [];
        lock (_dueLock)
        {
            TakeDue(long.MaxValue, all);
        }

        Flush(all);
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

        Interlocked.Add(ref _flushedByFanOut, Flush(scratch));
    }

    /// <summary>The fan-out shards: the timer leaves what is due to one that is delivering (set once, after construction).</summary>
    internal FanOutShard[] Shards { get; set; } = [];

    /// <summary>
    /// The timer: flushes the connections whose delay has ended, then re-arms for the next. While a fan-out shard is
    /// delivering it looks again once, shortly after (<see cref="DeferWhileDelivering"/>): that delivery ends with
    /// <see cref="FlushDue"/>, which sends what is due with whatever the delivery added to it (the message that was on
    /// its way at the deadline), on the thread already sending, instead of this thread sending half of a write ahead of
    /// the fan-out and the other half after it.
    /// </summary>
    private void OnTimer()
    {
        lock (_fireLock)
        {
            long now = _time.GetTimestamp();
            if (AnyShardDelivering())
            {
                lock (_dueLock)
                {
                    // Once per deadline: if that delivery is long, the next look flushes whatever is still due.
                    DropTakenAtTop();
                    if (_due.TryPeek(out _, out long next) && next != _deferredFor && next <= now + _toleranceTicks)
                    {
                        _deferredFor = next;
                        _armedFor = long.MaxValue;
                        Arm(now + _deferTicks);
                        _timerDeferred++;
                        return;
                    }
                }
            }

            lock (_dueLock)
            {
                _armedFor = long.MaxValue;
                TakeDue(now + _toleranceTicks, _firing);
                if (_due.TryPeek(out _, out long next))
                {
                    Arm(next);
                }
            }

            if (_firing.Count > 0)
            {
                long late = Math.Max(0, now - _firing[0].Due);
                _timerFires++;
                _timerLateTicks += late;
                _timerLateMaxTicks = Math.Max(_timerLateMaxTicks, late);
            }

            Interlocked.Add(ref _flushedByTimer, Flush(_firing));
        }
    }

    private bool AnyShardDelivering()
    {
        foreach (FanOutShard shard in Shards)
        {
            if (shard.IsDelivering)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Moves the connections of the groups due by <paramref name="horizon"/> into <paramref name="into"/>, dropping
    /// groups already taken on the way; with <see cref="long.MinValue"/> it only drops those. Under the due lock.
    /// </summary>
    private void TakeDue(long horizon, List<(WebSocketConnection Connection, long Due)>? into)
    {
        while (_due.TryPeek(out HeldGroup? group, out long due) && (group.Taken || due <= horizon))
        {
            _due.Dequeue();
            if (!group.Taken)
            {
                Take(group, into!); // a deadline is never long.MinValue: only with a list
            }

            Release(group);
        }

        Volatile.Write(ref _earliest, _due.TryPeek(out _, out long next) ? next : long.MaxValue);
    }

    /// <summary>Drops groups already taken (by their channel's run) from the top of the due queue. Under the due lock.</summary>
    private void DropTakenAtTop() => TakeDue(long.MinValue, null);

    /// <summary>Marks <paramref name="group"/> taken and moves its connections into <paramref name="into"/>. Under the due lock.</summary>
    private void Take(HeldGroup group, List<(WebSocketConnection Connection, long Due)> into)
    {
        group.Taken = true;
        _waiting -= group.Count;
        for (int i = 0; i < group.Count; i++)
        {
            into.Add((group.Connections[i], group.Due));
        }

        // Taken groups can wait a while in the other queue: they must not keep connections alive.
        Array.Clear(group.Connections, 0, group.Count);
        group.Count = 0;
    }

    /// <summary>One of the two queues let go of <paramref name="group"/>; after both, it is used again. Under the due lock.</summary>
    private void Release(HeldGroup group)
    {
        if (--group.Queues == 0)
        {
            _free.Push(group);
        }
    }

    /// <summary>Flushes the entries' connections (those still holding for that deadline) and clears the list. Returns how many flushed.</summary>
    private static int Flush(List<(WebSocketConnection Connection, long Due)> entries)
    {
        int flushed = 0;
        foreach ((WebSocketConnection connection, long due) in entries)
        {
            if (connection.FlushHeld(due))
            {
                flushed++;
            }
        }

        entries.Clear();
        return flushed;
    }

    /// <summary>Arms the one timer for <paramref name="due"/>. Under the due lock.</summary>
    private void Arm(long due)
    {
        if (_disposed)
        {
            return;
        }

        _armedFor = due;
        _timer.Arm(due);
    }

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>
    /// The subscribers that started holding with one run of one channel: they share its deadline. It is in the due
    /// queue and in the channel's <see cref="Channel.HeldGroups"/>; whichever reaches it first (the channel's next
    /// run, a fan-out batch's end or the timer) takes it, the other drops it when it comes to it, and after both it
    /// is used again (its array kept). Its fields are guarded by the coalescer's due lock.
    /// </summary>
    internal sealed class HeldGroup
    {
        public WebSocketConnection[] Connections = [];
        public int Count;
        public long Due;
        public bool Taken;
        public int Queues;

        public void Fill(List<WebSocketConnection> connections, long due)
        {
            if (Connections.Length < connections.Count)
            {
                Connections = new WebSocketConnection[Math.Max(connections.Count, Connections.Length * 2)];
            }

            connections.CopyTo(Connections);
            Count = connections.Count;
            Due = due;
            Taken = false;
            Queues = 2;
        }
    }
}
