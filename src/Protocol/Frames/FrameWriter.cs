using System.Buffers;
using System.Buffers.Binary;
using System.Text.Unicode;

namespace FastWs.Protocol.Frames;

/// <summary>
/// Writes RFC 6455 frames. Server frames are unmasked; the masked variants exist for clients (the load tool and tests).
/// Everything writes straight into a span or an <see cref="IBufferWriter{T}"/> and allocates nothing.
/// </summary>
public static class FrameWriter
{
    /// <summary>The largest header of an unmasked frame: 2 bytes plus a 64-bit length.</summary>
    public const int MaxServerHeaderSize = 10;

    /// <summary>The largest header of a masked frame: the above plus the 4-byte key.</summary>
    public const int MaxClientHeaderSize = 14;

    /// <summary>Close reasons must fit a control frame: 125 bytes minus the 2-byte code.</summary>
    public const int MaxCloseReasonBytes = 123;

    /// <summary>1015, reported locally when the TLS handshake failed; like 1005 and 1006 it is never sent.</summary>
    private const ushort TlsHandshakeFailure = 1015;

    public static int GetHeaderSize(long payloadLength, bool masked = false) =>
        (payloadLength <= 125 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10) + (masked ? 4 : 0);

    public static int GetFrameSize(int payloadLength) => GetHeaderSize(payloadLength) + payloadLength;

    /// <summary>Writes an unmasked header with the shortest length encoding. Returns the bytes written.</summary>
    public static int WriteHeader(Span<byte> destination, WebSocketOpcode opcode, long payloadLength, bool fin = true) =>
        WriteHeaderCore(destination, opcode, payloadLength, fin, masked: false);

    /// <summary>
    /// Writes a whole unmasked frame into <paramref name="destination"/>. Returns the bytes written.
    /// Control frames over 125 bytes or without FIN throw, as in the <see cref="IBufferWriter{T}"/> overload.
    /// </summary>
    public static int WriteFrame(Span<byte> destination, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true)
    {
        ValidateControl(opcode, payload.Length, fin);
        return WriteFrameCore(destination, opcode, payload, fin);
    }

    /// <summary>Writes a whole unmasked frame into <paramref name="output"/>.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        ValidateControl(opcode, payload.Length, fin);
        int size = GetFrameSize(payload.Length);
        Span<byte> span = output.GetSpan(size);
        WriteFrameCore(span, opcode, payload, fin);
        output.Advance(size);
    }

    public static void WriteText(IBufferWriter<byte> output, ReadOnlySpan<byte> utf8) => WriteFrame(output, WebSocketOpcode.Text, utf8);

    public static void WriteBinary(IBufferWriter<byte> output, ReadOnlySpan<byte> data) => WriteFrame(output, WebSocketOpcode.Binary, data);

    public static void WritePing(IBufferWriter<byte> output, ReadOnlySpan<byte> payload) => WriteFrame(output, WebSocketOpcode.Ping, payload);

    public static void WritePong(IBufferWriter<byte> output, ReadOnlySpan<byte> payload) => WriteFrame(output, WebSocketOpcode.Pong, payload);

    /// <summary>
    /// Writes a close frame with a status code and a reason, cutting the reason at a character boundary
    /// so it fits in 123 UTF-8 bytes. Codes 1005, 1006 and 1015 are local-only (RFC 6455 7.4.1: they MUST NOT be
    /// sent) and are written as an empty close.
    /// </summary>
    public static void WriteClose(IBufferWriter<byte> output, ushort code, ReadOnlySpan<char> reason)
    {
        ArgumentNullException.ThrowIfNull(output);
        Span<byte> payload = stackalloc byte[2 + MaxCloseReasonBytes];
        int length = EncodeClosePayload(payload, code, reason);
        WriteFrame(output, WebSocketOpcode.Close, payload[..length]);
    }

    /// <summary>Encodes a close payload (code + truncated reason) and returns its length (0 for 1005/1006/1015).</summary>
    public static int EncodeClosePayload(Span<byte> destination, ushort code, ReadOnlySpan<char> reason)
    {
        if (code is CloseCode.NoStatusReceived or CloseCode.AbnormalClosure or TlsHandshakeFailure)
        {
            return 0;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, code);
        int reasonBytes = EncodeTruncated(reason, destination.Slice(2, Math.Min(MaxCloseReasonBytes, destination.Length - 2)));
        return 2 + reasonBytes;
    }

    /// <summary>Writes a masked (client) frame; the payload is masked while it is copied.</summary>
    public static void WriteMaskedFrame(IBufferWriter<byte> output, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, uint maskKey, bool fin = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        ValidateControl(opcode, payload.Length, fin);
        int headerSize = GetHeaderSize(payload.Length, masked: true);
        Span<byte> span = output.GetSpan(headerSize + payload.Length);
        WriteHeaderCore(span, opcode, payload.Length, fin, masked: true);
        Masking.WriteMaskKey(span.Slice(headerSize - 4, 4), maskKey);
        Masking.CopyAndApply(payload, span[headerSize..], maskKey, 0);
        output.Advance(headerSize + payload.Length);
    }

    private static int WriteFrameCore(Span<byte> destination, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin)
    {
        int headerSize = WriteHeaderCore(destination, opcode, payload.Length, fin, masked: false);
        payload.CopyTo(destination[headerSize..]);
        return headerSize + payload.Length;
    }

    private static int WriteHeaderCore(Span<byte> destination, WebSocketOpcode opcode, long payloadLength, bool fin, bool masked)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        destination[0] = (byte)((fin ? 0x80 : 0) | (byte)opcode);
        byte maskBit = masked ? (byte)0x80 : (byte)0;
        int size;
        if (payloadLength <= 125)
        {
            destination[1] = (byte)(maskBit | (byte)payloadLength);
            size = 2;
        }
        else if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = (byte)(maskBit | 126);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            size = 4;
        }
        else
        {
            destination[1] = (byte)(maskBit | 127);
            BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payloadLength);
            size = 10;
        }

        return masked ? size + 4 : size;
    }

    private static void ValidateControl(WebSocketOpcode opcode, int payloadLength, bool fin)
    {
        if (opcode.IsControl() && (payloadLength > 125 || !fin))
        {
            throw new ArgumentException("Control frames carry at most 125 bytes and cannot be fragmented.", nameof(payloadLength));
        }
    }

    /// <summary>UTF-8 encodes as much of <paramref name="text"/> as fits, never splitting a character.</summary>
    /// <remarks>On DestinationTooSmall, Utf8.FromUtf16 stops before the first scalar that does not fit whole.</remarks>
    private static int EncodeTruncated(ReadOnlySpan<char> text, Span<byte> destination)
    {
        Utf8.FromUtf16(text, destination, out _, out int bytesWritten, replaceInvalidSequences: true, isFinalBlock: true);
        return bytesWritten;
    }
}
