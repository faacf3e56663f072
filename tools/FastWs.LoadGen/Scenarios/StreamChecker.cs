namespace FastWs.LoadGen.Scenarios;

/// <summary>What a <c>subscribed</c> ack said about one channel of a subscribe.</summary>
internal enum JoinOutcome
{
    /// <summary>Subscribed without <c>since</c>: the stream starts after the ack's position (or at a snapshot).</summary>
    Fresh,

    /// <summary>Listed in <c>recovered</c>: the messages after the position sent in <c>since</c> up to the ack's position are replayed, then live.</summary>
    Recovered,

    /// <summary>Listed in <c>notRecovered</c> (or in neither list although <c>since</c> named it): the client resets to the ack's position (a snapshot may follow).</summary>
    NotRecovered,
}

/// <summary>
/// Checks one subscriber's stream of one channel across reconnects: every data message must carry the previous
/// one's <c>seq</c> + 1, within a connection and across the seam between a recovered replay and live messages.
/// A jump forward is a gap (its missing messages are remembered, so one that turns up later is out of order rather
/// than a duplicate); a <c>gap</c> notice from the server is a gap as well, and the jump after it is not counted
/// again; a <c>seq</c> at or below the last one that was never missing is a duplicate. A <c>notRecovered</c> ack
/// (with or without a snapshot) is a recovery failure and resets the stream: what was lost then is not a gap.
/// </summary>
/// <remarks>Not thread-safe: one receive loop at a time (the reconnect scenario holds the subscriber's lock).</remarks>
internal sealed class StreamChecker
{
    /// <summary>Missing ranges remembered per channel for telling late arrivals from duplicates; older ones are forgotten.</summary>
    private const int MaxRememberedRanges = 64;

    private readonly List<(long From, long To)> _missing = [];

    /// <summary>Set by a recovered ack: messages up to here are the replay.</summary>
    private long _replayThrough = -1;

    /// <summary>Set by a notRecovered or fresh ack: a snapshot message at this seq may follow.</summary>
    private long _snapshotAt = -1;

    public StreamChecker(string channel) => Channel = channel;

    public string Channel { get; }

    /// <summary>The epoch of the channel's position (from the acks); null until the first ack.</summary>
    public string? Epoch { get; private set; }

    /// <summary>The last seq this subscriber holds: the ack's position, then every message's seq (-1 before the first ack).</summary>
    public long LastSeq { get; private set; } = -1;

    /// <summary>True between an ack and the next drop: messages are expected.</summary>
    public bool Joined { get; private set; }

    /// <summary>True once an ack gave a position, so a reconnect can send <c>since</c>.</summary>
    public bool HasPosition => Epoch is not null;

    /// <summary>Data messages received (live, replayed and snapshots).</summary>
    public long Messages { get; private set; }

    /// <summary>Messages received as the replay of a recovered subscribe.</summary>
    public long Replayed { get; private set; }

    /// <summary>Channels recovered (acks listing this channel in <c>recovered</c>).</summary>
    public long Recoveries { get; private set; }

    /// <summary>Acks listing this channel in <c>notRecovered</c> (or in neither list after a <c>since</c>).</summary>
    public long RecoveryFailures { get; private set; }

    /// <summary>Messages marked <c>"snapshot":true</c>.</summary>
    public long Snapshots { get; private set; }

    /// <summary>Gap events: jumps forward in seq and <c>gap</c> notices.</summary>
    public long Gaps { get; private set; }

    /// <summary>Of <see cref="Gaps"/>, the <c>gap</c> notices the server sent.</summary>
    public long GapNotices { get; private set; }

    /// <summary>Messages missing by those gaps.</summary>
    public long Missing { get; private set; }

    public long Duplicates { get; private set; }

    /// <summary>Messages that arrived after a later one (a missing one turning up late), before their subscribe's ack, or acks whose position went backwards.</summary>
    public long OutOfOrder { get; private set; }

    /// <summary>One example of the first problem of each kind, for the report.</summary>
    public string? FirstGap { get; private set; }

    public string? FirstDuplicate { get; private set; }

    public string? FirstOutOfOrder { get; private set; }

    /// <summary>The ack of a subscribe arrived: the channel's position and what became of <c>since</c>.</summary>
    public void Subscribed(string epoch, long seq, JoinOutcome outcome)
    {
        switch (outcome)
        {
            case JoinOutcome.Recovered:
                Recoveries++;
                if (epoch != Epoch || seq < LastSeq)
                {
                    // Recovered, yet the position cannot continue what this subscriber holds.
                    OutOfOrder++;
                    FirstOutOfOrder ??= $"{Channel}: recovered at {epoch}/{seq} while holding {Epoch}/{LastSeq}";
                    Reset(epoch, seq);
                }
                else
                {
                    _replayThrough = seq;
                    _snapshotAt = -1;
                }

                break;
            case JoinOutcome.NotRecovered:
                RecoveryFailures++;
                Reset(epoch, seq);
                break;
            default:
                Reset(epoch, seq);
                break;
        }

        Joined = true;
    }

    /// <summary>The connection was dropped: nothing more is expected until the next ack.</summary>
    public void Dropped()
    {
        Joined = false;
        _replayThrough = -1;
        _snapshotAt = -1;
    }

    /// <summary>A data message with its seq; <paramref name="snapshot"/> for <c>"snapshot":true</c>. Returns true for a live message in order (the ones latency is measured on).</summary>
    public bool Message(long seq, bool snapshot)
    {
        Messages++;
        if (!Joined)
        {
            OutOfOrder++;
            FirstOutOfOrder ??= $"{Channel}: seq {seq} before the subscribe's ack";
            return false;
        }

        if (snapshot)
        {
            Snapshots++;
            if (seq == _snapshotAt)
            {
                // The state a reset subscriber starts from: the position itself, nothing to check against.
                _snapshotAt = -1;
                LastSeq = seq;
                return false;
            }
        }

        long last = LastSeq;
        if (seq == last + 1)
        {
            LastSeq = seq;
            _snapshotAt = -1;
            if (seq <= _replayThrough)
            {
                Replayed++;
                return false;
            }

            return !snapshot;
        }

        if (seq > last + 1)
        {
            AddGap(last + 1, seq - 1, $"{Channel}: seq {seq} after {last}");
            LastSeq = seq;
            _snapshotAt = -1;
            return false;
        }

        if (TakeMissing(seq))
        {
            OutOfOrder++;
            FirstOutOfOrder ??= $"{Channel}: seq {seq} after {last} (missing until then)";
        }
        else
        {
            Duplicates++;
            FirstDuplicate ??= $"{Channel}: seq {seq} after {last}";
        }

        return false;
    }

    /// <summary>A <c>{"type":"gap","from":A,"to":B}</c> notice: messages A..B were skipped; the next message is B + 1.</summary>
    public void GapNotice(long from, long to)
    {
        GapNotices++;
        long last = LastSeq;
        if (to > last)
        {
            // Anything between the last message and the announced range is missing too: one gap.
            AddGap(last + 1, to, $"{Channel}: gap notice {from}..{to} after {last}");
            LastSeq = to;
        }
        else
        {
            // Announces messages this subscriber already has: still a gap notice, so still a gap.
            Gaps++;
            FirstGap ??= $"{Channel}: gap notice {from}..{to} after {last}";
        }
    }

    private void Reset(string epoch, long seq)
    {
        Epoch = epoch;
        LastSeq = seq;
        _replayThrough = -1;
        _snapshotAt = seq;
        _missing.Clear();
    }

    private void AddGap(long from, long to, string example)
    {
        Gaps++;
        Missing += to - from + 1;
        FirstGap ??= example;
        if (_missing.Count == MaxRememberedRanges)
        {
            _missing.RemoveAt(0);
        }

        _missing.Add((from, to));
    }

    /// <summary>Whether <paramref name="seq"/> was missing; if so it is no longer (split the range around it).</summary>
    private bool TakeMissing(long seq)
    {
        for (int i = 0; i < _missing.Count; i++)
        {
            (long from, long to) = _missing[i];
            if (seq < from || seq > to)
            {
                continue;
            }

            _missing.RemoveAt(i);
            if (seq < to)
            {
                _missing.Insert(i, (seq + 1, to));
            }

            if (seq > from)
            {
                _missing.Insert(i, (from, seq - 1));
            }

            return true;
        }

        return false;
    }
}
