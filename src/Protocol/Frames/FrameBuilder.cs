using System.Buffers;
using System.Runtime.InteropServices;
using CommunityToolkit.HighPerformance.Buffers;

namespace FastWs.Protocol.Frames;

/// <summary>
/// Builds one complete server frame (header + payload) in a pooled buffer so that the same bytes can be sent
/// to any number of connections: encode once, send many. Write the payload through the
/// <see cref="IBufferWriter{T}"/> interface (a <c>Utf8JsonWriter</c> can target it directly), then call
/// <see cref="Complete"/>. Because the payload length is unknown until it is written, room for the largest
/// header is reserved in front and the real header is written right-aligned against the payload afterwards.
/// </summary>
public sealed class FrameBuilder : IBufferWriter<byte>, IDisposable
{
    private readonly ArrayPoolBufferWriter<byte> _buffer;
    private int _frameStart = -1;

    public FrameBuilder(int initialCapacity = 256)
    {
        _buffer = new ArrayPoolBufferWriter<byte>(Math.Max(initialCapacity, FrameWriter.MaxServerHeaderSize + 1));
        Reset();
    }

    /// <summary>Payload bytes written so far.</summary>
    public int PayloadLength => _buffer.WrittenCount - FrameWriter.MaxServerHeaderSize;

    /// <summary>The payload written so far (before <see cref="Complete"/>), e.g. to validate it.</summary>
    public ReadOnlySpan<byte> Payload => _buffer.WrittenSpan[FrameWriter.MaxServerHeaderSize..];

    /// <summary>The finished frame; valid after <see cref="Complete"/> until <see cref="Reset"/> or disposal.</summary>
    public ReadOnlyMemory<byte> Frame => _frameStart < 0
        ? throw new InvalidOperationException("Complete() has not been called.")
        : _buffer.WrittenMemory[_frameStart..];

    /// <summary>Starts a new frame, keeping the pooled buffer.</summary>
    public void Reset()
    {
        _buffer.Clear();
        _buffer.GetSpan(FrameWriter.MaxServerHeaderSize);
        _buffer.Advance(FrameWriter.MaxServerHeaderSize);
        _frameStart = -1;
    }

    /// <summary>Writes the header in front of the payload and returns the complete frame bytes.</summary>
    public ReadOnlyMemory<byte> Complete(WebSocketOpcode opcode = WebSocketOpcode.Text)
    {
        int payloadLength = PayloadLength;
        if (opcode.IsControl() && payloadLength > 125)
        {
            throw new InvalidOperationException("Control frames carry at most 125 bytes.");
        }

        int headerSize = FrameWriter.GetHeaderSize(payloadLength);
        _frameStart = FrameWriter.MaxServerHeaderSize - headerSize;
        // The reserved prefix is ours to overwrite even though WrittenMemory is typed read-only.
        Span<byte> reserved = MemoryMarshal.AsMemory(_buffer.WrittenMemory).Span;
        FrameWriter.WriteHeader(reserved.Slice(_frameStart, headerSize), opcode, payloadLength);
        return Frame;
    }

    public void Advance(int count) => _buffer.Advance(count);

    public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => _buffer.GetSpan(sizeHint);

    public void Dispose() => _buffer.Dispose();
}
