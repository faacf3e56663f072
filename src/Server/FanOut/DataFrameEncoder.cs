using CommunityToolkit.HighPerformance.Buffers;
using FastWs.Server.Channels;

namespace FastWs.Server.FanOut;

/// <summary>
/// Encodes a fan-out run: consecutive messages of one channel, each once, as complete text frames back to back
/// (<see cref="MessageEncoding"/> writes each in the channel's format), so every subscriber gets the whole run with
/// one write and no copy of its own. It remembers where each frame ends, so a subscriber that must start part-way
/// (it joined while the run was being delivered, see <see cref="FrameRun.From"/>) gets the rest of the same bytes.
/// </summary>
internal sealed class DataFrameEncoder : IDisposable
{
    /// <summary>Runs never hold more messages than a fan-out batch.</summary>
    public const int MaxMessages = 64;

    private readonly ArrayPoolBufferWriter<byte> _run = new(4096);
    private readonly int[] _ends = new int[MaxMessages];
    private int _count;
    private long _firstSequence;

    /// <summary>Bytes in the run so far.</summary>
    public int RunLength => _run.WrittenCount;

    /// <summary>Frames in the run so far.</summary>
    public int Count => _count;

    /// <summary>The run appended since <see cref="Clear"/>; valid until the next <see cref="Clear"/> or <see cref="Encode"/>.</summary>
    public FrameRun Run => new(_run.WrittenSpan, _firstSequence, _ends.AsSpan(0, _count));

    /// <summary>One message as one frame (the run is cleared first).</summary>
    public ReadOnlyMemory<byte> Encode(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        Clear();
        Append(channel, sequence, data);
        return _run.WrittenMemory;
    }

    /// <summary>Starts a new run, keeping the pooled buffer.</summary>
    public void Clear()
    {
        _run.Clear();
        _count = 0;
    }

    /// <summary>Appends one message's frame to the run; messages of a run have consecutive sequence numbers.</summary>
    public void Append(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        if (_count == 0)
        {
            _firstSequence = sequence;
        }

        MessageEncoding.Write(_run, channel, sequence, data);
        _ends[_count++] = _run.WrittenCount;
    }

    public void Dispose() => _run.Dispose();
}

/// <summary>
/// An encoded run of one channel's messages: the frames back to back, the <c>seq</c> of the first, and where each
/// frame ends.
/// </summary>
internal readonly ref struct FrameRun
{
    public FrameRun(ReadOnlySpan<byte> frames, long firstSequence, ReadOnlySpan<int> ends)
    {
        Frames = frames;
        FirstSequence = firstSequence;
        Ends = ends;
    }

    public ReadOnlySpan<byte> Frames { get; }

    public long FirstSequence { get; }

    public ReadOnlySpan<int> Ends { get; }

    public int Messages => Ends.Length;

    public long LastSequence => FirstSequence + Ends.Length - 1;

    /// <summary>The frames of the messages from <paramref name="sequence"/> on (which must be within the run).</summary>
    public ReadOnlySpan<byte> From(long sequence)
    {
        int skip = (int)(sequence - FirstSequence);
        return skip <= 0 ? Frames : Frames[Ends[skip - 1]..];
    }
}
