using System.Buffers;
using System.Buffers.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.Channels;

namespace FastWs.Server.FanOut;

/// <summary>
/// Writes one data message as one complete text frame in its channel's format:
/// <list type="bullet">
/// <item>Envelope: <c>{"type":"message","channel":"NAME","seq":N,"data":DATA}</c>, DATA being the published JSON byte for byte.</item>
/// <item>Inline: the published object with <c>"channel":"NAME","seq":N</c> appended as its last members, so
/// <c>{"type":"price","slab":"SOL","price":1.5}</c> goes out as <c>{"type":"price","slab":"SOL","price":1.5,"channel":"price:SOL","seq":7}</c>.</item>
/// </list>
/// A snapshot (the latest message sent to a new subscriber) carries <c>"snapshot":true</c> as well. The channel parts
/// are precomputed per channel, so either format is a few copies and one number format; both cost the same.
/// </summary>
internal static class MessageEncoding
{
    private const int MaxSequenceDigits = 20;

    private static ReadOnlySpan<byte> EnvelopeData => ",\"data\":"u8;

    private static ReadOnlySpan<byte> SnapshotFlag => ",\"snapshot\":true"u8;

    private static ReadOnlySpan<byte> JsonWhitespace => " \t\r\n"u8;

    /// <summary>Appends the frame for message <paramref name="sequence"/> of <paramref name="channel"/> to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, Channel channel, long sequence, ReadOnlySpan<byte> data, bool snapshot = false)
    {
        Span<byte> digits = stackalloc byte[MaxSequenceDigits];
        Utf8Formatter.TryFormat(sequence, digits, out int digitCount);
        ReadOnlySpan<byte> seq = digits[..digitCount];
        ReadOnlySpan<byte> flag = snapshot ? SnapshotFlag : default;

        if (channel.Inline)
        {
            // The publish was checked to be one JSON object, so it ends with '}' (perhaps followed by whitespace).
            // Its members are kept as they are and ours go in front of that closing brace.
            ReadOnlySpan<byte> members = data[..data.LastIndexOf((byte)'}')];
            bool empty = members.TrimEnd(JsonWhitespace)[^1] == (byte)'{';
            ReadOnlySpan<byte> suffix = channel.InlineSuffix;
            int payloadLength = members.Length + (empty ? 0 : 1) + suffix.Length + seq.Length + flag.Length + 1;
            Span<byte> span = BeginFrame(output, payloadLength, out int at);
            Put(span, ref at, members);
            if (!empty)
            {
                span[at++] = (byte)',';
            }

            Put(span, ref at, suffix);
            Put(span, ref at, seq);
            Put(span, ref at, flag);
            span[at++] = (byte)'}';
            output.Advance(at);
        }
        else
        {
            ReadOnlySpan<byte> prefix = channel.MessagePrefix;
            int payloadLength = prefix.Length + seq.Length + flag.Length + EnvelopeData.Length + data.Length + 1;
            Span<byte> span = BeginFrame(output, payloadLength, out int at);
            Put(span, ref at, prefix);
            Put(span, ref at, seq);
            Put(span, ref at, flag);
            Put(span, ref at, EnvelopeData);
            Put(span, ref at, data);
            span[at++] = (byte)'}';
            output.Advance(at);
        }
    }

    /// <summary>
    /// Whether <paramref name="data"/> (already known to be one valid JSON value) is an object, which the inline format
    /// needs: its first non-whitespace byte is then '{'.
    /// </summary>
    public static bool IsObject(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> trimmed = data.TrimStart(JsonWhitespace);
        return !trimmed.IsEmpty && trimmed[0] == (byte)'{';
    }

    /// <summary>The payload's length is known before it is written, so the frame header goes in front directly.</summary>
    private static Span<byte> BeginFrame(IBufferWriter<byte> output, int payloadLength, out int at)
    {
        int headerLength = FrameWriter.GetHeaderSize(payloadLength);
        Span<byte> span = output.GetSpan(headerLength + payloadLength);
        at = FrameWriter.WriteHeader(span, WebSocketOpcode.Text, payloadLength);
        return span;
    }

    private static void Put(Span<byte> span, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        at += bytes.Length;
    }
}
