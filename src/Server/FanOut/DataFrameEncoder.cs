using System.Buffers;
using CommunityToolkit.HighPerformance.Buffers;
using FastWs.Protocol.Compression;
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

    /// <summary>The deflate threshold that makes no compressed variant (nobody on the channel negotiated it).</summary>
    public const int NoDeflate = -1;

    private readonly ArrayPoolBufferWriter<byte> _run = new(4096);
    private readonly int[] _ends = new int[MaxMessages];
    private int _count;
    private long _firstSequence;

    // The run's permessage-deflate variant, for subscribers that negotiated it: each message compressed (RSV1)
    // when it is at least the threshold and compression makes it smaller, else the same plain frame. Started only
    // when a message is actually compressed, so a run with nothing worth compressing is not copied.
    private readonly MessageDeflater _deflater = new();
    private readonly ArrayPoolBufferWriter<byte> _deflated = new(4096);
    private readonly int[] _deflatedEnds = new int[MaxMessages];
    private int _deflateThreshold = NoDeflate;
    private int _deflatedCount;
    private int _largestDeflatedPayload;

    /// <summary>Bytes in the run so far.</summary>
    public int RunLength => _run.WrittenCount;

    /// <summary>Frames in the run so far.</summary>
    public int Count => _count;

    /// <summary>The run appended since <see cref="Clear"/>; valid until the next <see cref="Clear"/> or <see cref="Encode"/>.</summary>
    public FrameRun Run => _deflatedCount == 0
        ? new(_run.WrittenSpan, _firstSequence, _ends.AsSpan(0, _count))
        : new(_run.WrittenSpan, _firstSequence, _ends.AsSpan(0, _count), _deflated.WrittenSpan, _deflatedEnds.AsSpan(0, _count), _largestDeflatedPayload);

    /// <summary>One message as one frame (the run is cleared first; no compressed variant).</summary>
    public ReadOnlyMemory<byte> Encode(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        Clear();
        Append(channel, sequence, data);
        return _run.WrittenMemory;
    }

    /// <summary>
    /// Starts a new run, keeping the pooled buffers. With a <paramref name="deflateThreshold"/> of 0 or more, messages
    /// whose payload is at least that long are also compressed, once each, into the run's deflate variant.
    /// </summary>
    public void Clear(int deflateThreshold = NoDeflate)
    {
        _run.Clear();
        _count = 0;
        _deflateThreshold = deflateThreshold;
        if (_deflatedCount != 0)
        {
            _deflated.Clear();
            _deflatedCount = 0;
            _largestDeflatedPayload = 0;
        }
    }

    /// <summary>Appends one message's frame to the run; messages of a run have consecutive sequence numbers.</summary>
    public void Append(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        if (_count == 0)
        {
            _firstSequence = sequence;
        }

        int start = _run.WrittenCount;
        MessageEncoding.Write(_run, channel, sequence, data);
        _ends[_count] = _run.WrittenCount;
        if (_deflateThreshold != NoDeflate)
        {
            AppendDeflated(_run.WrittenSpan[start..]);
        }

        _count++;
    }

    /// <summary>Adds message <see cref="_count"/> (its plain <paramref name="frame"/> just written) to the deflate variant.</summary>
    private void AppendDeflated(ReadOnlySpan<byte> frame)
    {
        ReadOnlySpan<byte> payload = frame[HeaderLength(frame)..];
        if (payload.Length >= _deflateThreshold && payload.Length > 0)
        {
            if (_deflatedCount == 0 && _count > 0)
            {
                // The first compressed message of the run: the plain frames before it become the variant's start.
                _deflated.Write(_run.WrittenSpan[.._ends[_count - 1]]);
                _ends.AsSpan(0, _count).CopyTo(_deflatedEnds);
            }

            if (_deflater.TryWriteFrame(payload, _deflated))
            {
                _deflatedCount++;
                _largestDeflatedPayload = Math.Max(_largestDeflatedPayload, payload.Length);
                _deflatedEnds[_count] = _deflated.WrittenCount;
                return;
            }

            if (_deflatedCount == 0 && _count > 0)
            {
                _deflated.Clear(); // nothing compressed after all: the variant is not needed yet
            }
        }

        if (_deflatedCount != 0)
        {
            _deflated.Write(frame);
            _deflatedEnds[_count] = _deflated.WrittenCount;
        }
    }

    /// <summary>Length of a server frame's header (unmasked): 2, or 4 / 10 with an extended payload length.</summary>
    private static int HeaderLength(ReadOnlySpan<byte> frame) => (frame[1] & 0x7F) switch
    {
        126 => 4,
        127 => 10,
        _ => 2,
    };

    public void Dispose()
    {
        _run.Dispose();
        _deflated.Dispose();
        _deflater.Dispose();
    }
}

/// <summary>
/// An encoded run of one channel's messages: the frames back to back, the <c>seq</c> of the first, and where each
/// frame ends; and, when any of its messages was compressed, the same for the permessage-deflate variant.
/// </summary>
internal readonly ref struct FrameRun
{
    public FrameRun(ReadOnlySpan<byte> frames, long firstSequence, ReadOnlySpan<int> ends)
    {
        Frames = frames;
        FirstSequence = firstSequence;
        Ends = ends;
    }

    public FrameRun(ReadOnlySpan<byte> frames, long firstSequence, ReadOnlySpan<int> ends,
        ReadOnlySpan<byte> deflated, ReadOnlySpan<int> deflatedEnds, int largestDeflatedPayload)
        : this(frames, firstSequence, ends)
    {
        Deflated = deflated;
        DeflatedEnds = deflatedEnds;
        LargestDeflatedPayload = largestDeflatedPayload;
    }

    public ReadOnlySpan<byte> Frames { get; }

    public long FirstSequence { get; }

    public ReadOnlySpan<int> Ends { get; }

    /// <summary>The permessage-deflate variant (one frame per message, as in <see cref="Frames"/>); empty when nothing was compressed.</summary>
    public ReadOnlySpan<byte> Deflated { get; }

    public ReadOnlySpan<int> DeflatedEnds { get; }

    /// <summary>The longest payload that was compressed: with zlib's 15-bit window no back-reference is longer.</summary>
    public int LargestDeflatedPayload { get; }

    /// <summary>Whether any message of the run was compressed (the run then has a deflate variant).</summary>
    public bool HasDeflated => DeflatedEnds.Length != 0;

    public int Messages => Ends.Length;

    public long LastSequence => FirstSequence + Ends.Length - 1;

    /// <summary>
    /// Whether a connection with these deflate parameters gets the compressed variant: it negotiated the extension,
    /// and its <c>server_max_window_bits</c> window holds every compressed message whole (so no back-reference can
    /// reach past it). Otherwise it gets the plain frames, which RFC 7692 allows for any message.
    /// </summary>
    public bool DeflatedFor(DeflateParameters deflate) =>
        HasDeflated && deflate.IsEnabled && LargestDeflatedPayload <= 1 << deflate.ServerMaxWindowBits;

    /// <summary>The plain or compressed frames of the messages from <paramref name="sequence"/> on (which must be within the run).</summary>
    public ReadOnlySpan<byte> From(long sequence, bool deflated)
    {
        ReadOnlySpan<byte> frames = deflated ? Deflated : Frames;
        int skip = (int)(sequence - FirstSequence);
        return skip <= 0 ? frames : frames[(deflated ? DeflatedEnds : Ends)[skip - 1]..];
    }
}
