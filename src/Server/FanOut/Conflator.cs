using FastWs.Server.Channels;

namespace FastWs.Server.FanOut;

/// <summary>A conflated channel's state: when it last sent, and the newest publish waiting for its interval to end.</summary>
internal sealed class ConflationState
{
    public ConflationState(Channel channel)
    {
        Channel = channel;
    }

    public Channel Channel { get; }

    /// <summary>Guards everything below; held while a message of this channel is queued, which keeps them in order.</summary>
    public Lock SyncRoot { get; } = new();

    /// <summary>When (a <see cref="TimeProvider"/> timestamp) the last message went to fan-out; long.MinValue before the first.</summary>
    public long LastSentAt { get; set; } = long.MinValue;

    /// <summary>The newest publish not sent yet (a buffer from <see cref="PendingMessage.DataPool"/>), or null.</summary>
    public byte[]? Pending { get; set; }

    public int PendingLength { get; set; }

    /// <summary>True while the channel is in the conflator's due queue.</summary>
    public bool Scheduled { get; set; }
}

/// <summary>
/// Conflation for every channel of every namespace with a <c>ConflationInterval</c>: per channel, the first publish
/// after a quiet interval goes to fan-out at once (no added latency when traffic is light); later ones within the
/// interval replace each other, and the latest goes out when the interval ends.
/// </summary>
/// <remarks>
/// <para>
/// One timer structure for all channels: a due queue (a min-heap of channels by when their interval ends) and one
/// timer armed for its earliest entry. Only channels with a publish waiting are in it, so idle channels cost nothing,
/// and a channel is in it at most once. Time comes from a <see cref="TimeProvider"/>, so tests drive it with a fake clock.
/// </para>
/// <para>
/// Never an older value after a newer one: a channel's messages are queued for fan-out only under its own lock, and the
/// fan-out queue keeps their order. Messages are numbered when fan-out takes them, so a conflated channel numbers what
/// it delivers and a client sees no false gap. A fan-out queue that is full (publishers far ahead of delivery) is
/// never waited on under the lock: the message stays pending and is retried shortly.
/// </para>
/// </remarks>
internal sealed class Conflator : IDisposable
{
    /// <summary>How soon a message that found its fan-out queue full is tried again.</summary>
    private static readonly TimeSpan RetryAfterFullQueue = TimeSpan.FromMilliseconds(5);

    private readonly TimeProvider _time;
    private readonly Func<PendingMessage, bool> _tryEnqueue;
    private readonly Action<Channel> _deliver;
    private readonly Action<long> _countReplaced;

    private readonly Lock _dueLock = new();
    private readonly PriorityQueue<ConflationState, long> _due = new();
    private readonly ITimer _timer;
    private long _armedFor = long.MaxValue;
    private bool _disposed;

    // Only the timer callback uses this (one callback at a time, see OnTimer).
    private readonly Lock _fireLock = new();
    private readonly List<ConflationState> _firing = [];

    /// <param name="tryEnqueue">Queues a message on its channel's fan-out shard without waiting; false when the queue is full.</param>
    /// <param name="deliver">Delivers what the channel's shard has queued (called after the channel's lock is released).</param>
    /// <param name="countReplaced">Counts publishes replaced by newer ones (for the metrics).</param>
    public Conflator(TimeProvider time, Func<PendingMessage, bool> tryEnqueue, Action<Channel> deliver, Action<long> countReplaced)
    {
        _time = time;
        _tryEnqueue = tryEnqueue;
        _deliver = deliver;
        _countReplaced = countReplaced;
        _timer = time.CreateTimer(static state => ((Conflator)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Channels waiting for their interval to end.</summary>
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

    /// <summary>Takes a publish for a conflated channel: sends it now, or keeps it as the channel's newest.</summary>
    public void Offer(Channel channel, ReadOnlySpan<byte> data)
    {
        ConflationState state = channel.Conflation!;
        long interval = IntervalTicks(channel);
        bool deliver = false;
        lock (state.SyncRoot)
        {
            long now = _time.GetTimestamp();
            if (state.Pending is null && (state.LastSentAt == long.MinValue || now - state.LastSentAt >= interval))
            {
                byte[] copy = PendingMessage.DataPool.Rent(data.Length);
                data.CopyTo(copy);
                if (_tryEnqueue(new PendingMessage(channel, copy, data.Length)))
                {
                    state.LastSentAt = now;
                    deliver = true;
                }
                else
                {
                    state.Pending = copy;
                    state.PendingLength = data.Length;
                    Schedule(state, now + ToTicks(RetryAfterFullQueue));
                }
            }
            else
            {
                if (state.Pending is { } older)
                {
                    _countReplaced(1);
                    if (older.Length < data.Length)
                    {
                        PendingMessage.DataPool.Return(older);
                        state.Pending = PendingMessage.DataPool.Rent(data.Length);
                    }
                }
                else
                {
                    state.Pending = PendingMessage.DataPool.Rent(data.Length);
                }

                data.CopyTo(state.Pending);
                state.PendingLength = data.Length;
                Schedule(state, state.LastSentAt + interval);
            }
        }

        if (deliver)
        {
            _deliver(channel);
        }
    }

    /// <summary>Sends whatever is waiting in every channel now, whatever its interval (shutdown: nothing is lost).</summary>
    public void FlushAll()
    {
        List<ConflationState> all;
        lock (_dueLock)
        {
            all = [.. _due.UnorderedItems.Select(static item => item.Element)];
            _due.Clear();
        }

        foreach (ConflationState state in all)
        {
            Send(state, _time.GetTimestamp());
        }
    }

    public void Dispose()
    {
        lock (_dueLock)
        {
            _disposed = true;
        }

        _timer.Dispose();
    }

    /// <summary>Puts the channel in the due queue (once) and re-arms the timer if it is now the earliest. Under the channel's lock.</summary>
    private void Schedule(ConflationState state, long due)
    {
        if (state.Scheduled)
        {
            return;
        }

        state.Scheduled = true;
        lock (_dueLock)
        {
            _due.Enqueue(state, due);
            if (due < _armedFor)
            {
                Arm(due);
            }
        }
    }

    /// <summary>The timer: sends the channels whose interval has ended, then re-arms for the next.</summary>
    private void OnTimer()
    {
        lock (_fireLock)
        {
            long now = _time.GetTimestamp();
            lock (_dueLock)
            {
                _armedFor = long.MaxValue;
                while (_due.TryPeek(out ConflationState? state, out long due) && due <= now)
                {
                    _due.Dequeue();
                    _firing.Add(state);
                }

                if (_due.TryPeek(out _, out long next))
                {
                    Arm(next);
                }
            }

            foreach (ConflationState state in _firing)
            {
                Send(state, now);
            }

            _firing.Clear();
        }
    }

    /// <summary>Queues the channel's waiting message for fan-out; retried shortly when its queue is full.</summary>
    private void Send(ConflationState state, long now)
    {
        bool deliver = false;
        lock (state.SyncRoot)
        {
            state.Scheduled = false;
            if (state.Pending is not { } pending)
            {
                return;
            }

            if (_tryEnqueue(new PendingMessage(state.Channel, pending, state.PendingLength)))
            {
                state.Pending = null;
                state.LastSentAt = now;
                deliver = true;
            }
            else
            {
                Schedule(state, now + ToTicks(RetryAfterFullQueue));
            }
        }

        if (deliver)
        {
            _deliver(state.Channel);
        }
    }

    /// <summary>Arms the one timer for <paramref name="due"/> (a timestamp). Under the due lock.</summary>
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

    private long IntervalTicks(Channel channel) => ToTicks(channel.Settings.ConflationInterval);

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}
