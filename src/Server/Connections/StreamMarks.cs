using FastWs.Server.Channels;

namespace FastWs.Server.Connections;

/// <summary>
/// What a connection must remember per channel between deliveries, in the rare cases there is anything: a delivery
/// floor (it joined while a delivery was in flight: messages up to the floor were in its replay or snapshot, see
/// <see cref="StreamJoin"/>) and a gap (messages skipped while it was over its unsent-output limit, to be announced
/// with a <c>gap</c> notice before its next message on that channel).
/// </summary>
/// <remarks>
/// Created on first need and guarded by the connection's write lock; a connection that never lags and never joins
/// mid-delivery has none, and fan-out then checks one null reference. A handful of entries at most, searched in order.
/// </remarks>
internal sealed class StreamMarks
{
    private struct Mark
    {
        public Channel Channel;
        public long Floor;
        public long GapFrom;
        public long GapTo;
    }

    private Mark[] _marks = new Mark[2];
    private int _count;

    public bool IsEmpty => _count == 0;

    public void SetFloor(Channel channel, long floor)
    {
        ref Mark mark = ref GetOrAdd(channel);
        mark.Floor = floor;
        mark.GapFrom = mark.GapTo = 0;
    }

    /// <summary>A gap's end when it is not known: the channel's stream restarted in a new epoch (<c>"to":null</c> on the wire).</summary>
    public const long UnknownEnd = long.MaxValue;

    /// <summary>
    /// The channel's stream broke for this connection (a broker's stream restarted, or lost messages it could not
    /// refill): the floor no longer applies, and a gap from <paramref name="from"/> to <paramref name="to"/> (or
    /// <see cref="UnknownEnd"/>) is announced before the next message.
    /// </summary>
    public void Break(Channel channel, long from, long to)
    {
        ref Mark mark = ref GetOrAdd(channel);
        mark.Floor = 0;
        if (mark.GapTo == 0)
        {
            mark.GapFrom = from;
        }

        mark.GapTo = to;
    }

    /// <summary>Adds messages <paramref name="from"/>..<paramref name="to"/> to the channel's unannounced gap.</summary>
    public void AddGap(Channel channel, long from, long to)
    {
        ref Mark mark = ref GetOrAdd(channel);
        if (mark.GapTo == 0)
        {
            mark.GapFrom = from;
        }

        if (mark.GapTo != UnknownEnd)
        {
            mark.GapTo = to;
        }
    }

    /// <summary>
    /// Before a run of <paramref name="channel"/>'s messages <paramref name="first"/>..<paramref name="last"/> goes out:
    /// moves <paramref name="first"/> past the channel's floor (returns false when nothing of the run is left) and,
    /// with <paramref name="takeGap"/>, takes the channel's unannounced gap (<paramref name="gapTo"/> 0 when none).
    /// A floor ends with the first run past it, since runs come in order.
    /// </summary>
    public bool Prepare(Channel channel, ref long first, long last, bool takeGap, out long gapFrom, out long gapTo)
    {
        gapFrom = gapTo = 0;
        int index = IndexOf(channel);
        if (index < 0)
        {
            return true;
        }

        ref Mark mark = ref _marks[index];
        if (mark.Floor != 0)
        {
            if (last <= mark.Floor)
            {
                return false;
            }

            first = Math.Max(first, mark.Floor + 1);
            mark.Floor = 0;
        }

        if (takeGap)
        {
            gapFrom = mark.GapFrom;
            gapTo = mark.GapTo;
            mark.GapFrom = mark.GapTo = 0;
        }

        if (mark.GapTo == 0)
        {
            RemoveAt(index);
        }

        return true;
    }

    /// <summary>Forgets the channel (unsubscribed).</summary>
    public void Remove(Channel channel)
    {
        int index = IndexOf(channel);
        if (index >= 0)
        {
            RemoveAt(index);
        }
    }

    private ref Mark GetOrAdd(Channel channel)
    {
        int index = IndexOf(channel);
        if (index >= 0)
        {
            return ref _marks[index];
        }

        if (_count == _marks.Length)
        {
            Array.Resize(ref _marks, _count * 2);
        }

        _marks[_count] = new Mark { Channel = channel };
        return ref _marks[_count++];
    }

    private int IndexOf(Channel channel)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_marks[i].Channel, channel))
            {
                return i;
            }
        }

        return -1;
    }

    private void RemoveAt(int index)
    {
        _marks[index] = _marks[--_count];
        _marks[_count] = default;
    }
}
