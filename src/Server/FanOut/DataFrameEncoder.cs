using System.Buffers.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastWs.Protocol.Frames;
using FastWs.Server.Channels;

namespace FastWs.Server.FanOut;

/// <summary>
/// Encodes data messages once, as complete text frames:
/// <c>{"type":"message","channel":"NAME","seq":N,"data":DATA}</c>, where DATA is the published JSON byte for byte.
/// The channel part is a prefix precomputed per channel, so encoding is three copies and one number format.
/// </summary>
/// <remarks>
/// Frames are appended back to back into one run (<see cref="Append"/>, <see cref="Run"/>), so several messages
/// of one channel in a fan-out batch are one block of bytes that every subscriber gets with one write and no
/// copy of its own. <see cref="Encode"/> is a run of one.
/// </remarks>
internal sealed class DataFrameEncoder : IDisposable
{
    private const int MaxSequenceDigits = 20;

    private readonly ArrayPoolBufferWriter<byte> _run = new(4096);

    /// <summary>Bytes in the run so far.</summary>
    public int RunLength => _run.WrittenCount;

    /// <summary>The frames appended since <see cref="Clear"/>; valid until the next <see cref="Clear"/> or <see cref="Encode"/>.</summary>
    public ReadOnlySpan<byte> Run => _run.WrittenSpan;

    /// <summary>One message as one frame (the run is cleared first).</summary>
    public ReadOnlyMemory<byte> Encode(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        Clear();
        Append(channel, sequence, data);
        return _run.WrittenMemory;
    }

    /// <summary>Starts a new run, keeping the pooled buffer.</summary>
    public void Clear() => _run.Clear();

    /// <summary>Appends one message's frame to the run.</summary>
    public void Append(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> prefix = channel.MessagePrefix;
        ReadOnlySpan<byte> middle = ",\"data\":"u8;
        Span<byte> digits = stackalloc byte[MaxSequenceDigits];
        Utf8Formatter.TryFormat(sequence, digits, out int digitCount);

        // The payload's length is known before it is written, so the header goes in front directly.
        int payloadLength = prefix.Length + digitCount + middle.Length + data.Length + 1;
        int headerLength = FrameWriter.GetHeaderSize(payloadLength);
        Span<byte> span = _run.GetSpan(headerLength + payloadLength);
        int at = FrameWriter.WriteHeader(span, WebSocketOpcode.Text, payloadLength);
        prefix.CopyTo(span[at..]);
        at += prefix.Length;
        digits[..digitCount].CopyTo(span[at..]);
        at += digitCount;
        middle.CopyTo(span[at..]);
        at += middle.Length;
        data.CopyTo(span[at..]);
        at += data.Length;
        span[at++] = (byte)'}';
        _run.Advance(at);
    }

    public void Dispose() => _run.Dispose();
}
