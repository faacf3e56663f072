using System.Buffers.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.Channels;

namespace FastWs.Server.FanOut;

/// <summary>
/// Encodes a data message once, as a complete text frame:
/// <c>{"type":"message","channel":"NAME","seq":N,"data":DATA}</c>, where DATA is the published JSON byte for byte.
/// The channel part is a prefix precomputed per channel, so encoding is three copies and one number format.
/// </summary>
internal sealed class DataFrameEncoder : IDisposable
{
    private const int MaxSequenceDigits = 20;

    private readonly FrameBuilder _frame = new(4096);

    public ReadOnlyMemory<byte> Encode(Channel channel, long sequence, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> prefix = channel.MessagePrefix;
        ReadOnlySpan<byte> middle = ",\"data\":"u8;

        _frame.Reset();
        Span<byte> span = _frame.GetSpan(prefix.Length + MaxSequenceDigits + middle.Length + data.Length + 1);
        prefix.CopyTo(span);
        int at = prefix.Length;
        Utf8Formatter.TryFormat(sequence, span[at..], out int digits);
        at += digits;
        middle.CopyTo(span[at..]);
        at += middle.Length;
        data.CopyTo(span[at..]);
        at += data.Length;
        span[at++] = (byte)'}';
        _frame.Advance(at);
        return _frame.Complete(WebSocketOpcode.Text);
    }

    public void Dispose() => _frame.Dispose();
}
