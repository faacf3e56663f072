using System.Diagnostics;

namespace FastWs.Server.Broker;

/// <summary>
/// The broker's counters, lock-free like the server's own: publishes (sent, in flight, refused, failed), the round
/// trip to the broker, messages received, holes refilled or announced, epoch restarts, reconnects and followed
/// channels. Read by /ws/stats, /metrics and the <c>FastWs</c> meter.
/// </summary>
public sealed class BrokerMetrics
{
    private long _published;
    private long _inFlight;
    private long _refused;
    private long _failed;
    private long _received;
    private long _duplicates;
    private long _refilled;
    private long _holes;
    private long _restarts;
    private long _reconnects;
    private long _disconnects;
    private long _followed;
    private long _followFailures;
    private long _lastRoundTripTicks;
    private long _roundTripEwmaTicks;
    private long _disconnectedSince;

    public long Published => Volatile.Read(ref _published);

    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Publishes refused because the broker was unreachable or this node's in-flight bound was reached.</summary>
    public long Refused => Volatile.Read(ref _refused);

    /// <summary>Publishes sent that the broker did not confirm (connection lost, timeout, script error).</summary>
    public long Failed => Volatile.Read(ref _failed);

    public long Received => Volatile.Read(ref _received);

    /// <summary>Messages received again after a catch-up had already delivered them (dropped).</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Messages this node missed on pub/sub and fetched from the broker's history instead.</summary>
    public long Refilled => Volatile.Read(ref _refilled);

    /// <summary>Holes the broker could not refill, announced to subscribers with <c>gap</c> notices.</summary>
    public long HolesAnnounced => Volatile.Read(ref _holes);

    /// <summary>Channels whose stream restarted in a new epoch under this node's subscribers (the broker lost their state).</summary>
    public long Restarts => Volatile.Read(ref _restarts);

    public long Reconnects => Volatile.Read(ref _reconnects);

    public long Disconnects => Volatile.Read(ref _disconnects);

    /// <summary>Channels this node follows (subscribed in the broker): its interest.</summary>
    public long Followed => Volatile.Read(ref _followed);

    public long FollowFailures => Volatile.Read(ref _followFailures);

    /// <summary>The last publish's or ping's round trip, in milliseconds.</summary>
    public double LastRoundTripMs => Volatile.Read(ref _lastRoundTripTicks) * 1000.0 / Stopwatch.Frequency;

    /// <summary>The round trip's moving average (weight 1/16 per sample), in milliseconds.</summary>
    public double RoundTripMs => Volatile.Read(ref _roundTripEwmaTicks) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Since when (Stopwatch timestamp) the node has been cut off from the broker; 0 while connected.</summary>
    internal long DisconnectedSince => Volatile.Read(ref _disconnectedSince);

    internal long PublishStarted()
    {
        Interlocked.Increment(ref _inFlight);
        return Stopwatch.GetTimestamp();
    }

    internal void PublishEnded(long startedAt, bool confirmed)
    {
        Interlocked.Decrement(ref _inFlight);
        if (confirmed)
        {
            Interlocked.Increment(ref _published);
            RoundTrip(Stopwatch.GetTimestamp() - startedAt);
        }
        else
        {
            Interlocked.Increment(ref _failed);
        }
    }

    internal void RoundTrip(long ticks)
    {
        Volatile.Write(ref _lastRoundTripTicks, ticks);
        long average = Volatile.Read(ref _roundTripEwmaTicks);
        // A benign race between two writers loses one sample of a moving average, nothing more.
        Volatile.Write(ref _roundTripEwmaTicks, average == 0 ? ticks : average + ((ticks - average) >> 4));
    }

    internal void PublishRefused() => Interlocked.Increment(ref _refused);

    internal void MessageReceived() => Interlocked.Increment(ref _received);

    internal void DuplicateDropped() => Interlocked.Increment(ref _duplicates);

    internal void Refill(int messages) => Interlocked.Add(ref _refilled, messages);

    internal void HoleAnnounced() => Interlocked.Increment(ref _holes);

    internal void Restarted() => Interlocked.Increment(ref _restarts);

    internal void Connected()
    {
        if (Interlocked.Exchange(ref _disconnectedSince, 0) != 0)
        {
            Interlocked.Increment(ref _reconnects);
        }
    }

    internal void Disconnected()
    {
        Interlocked.Increment(ref _disconnects);
        Interlocked.CompareExchange(ref _disconnectedSince, Stopwatch.GetTimestamp(), 0);
    }

    internal void FollowChanged(int delta) => Interlocked.Add(ref _followed, delta);

    internal void FollowFailed() => Interlocked.Increment(ref _followFailures);
}
