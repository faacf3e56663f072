namespace FastWs.Protocol.Compression;

/// <summary>
/// The stream a <see cref="System.IO.Compression.DeflateStream"/> reads one compressed message from: the message's
/// payload followed by the four octets 0x00 0x00 0xff 0xff that the sender removed (RFC 7692 section 7.2.2), then
/// end of stream until the next message is set. The runtime offers no span-based inflater, so this is how a
/// payload that is already in memory reaches zlib without a copy of its own (DeflateStream copies it once into
/// its input buffer).
/// </summary>
/// <remarks>
/// When the DEFLATE stream is not to outlive the message (no context takeover), an empty final block (0x03 0x00:
/// BFINAL, fixed Huffman codes, end of block) follows the four octets. A message that ends on a block boundary,
/// as it must, then ends the stream; one cut off inside a block does not, and the inflater, still wanting input,
/// asks for more after the end: <see cref="ReadsAfterEnd"/> counts those requests.
/// </remarks>
internal sealed class InflateInput : Stream
{
    private static ReadOnlySpan<byte> SyncTail => [0x00, 0x00, 0xFF, 0xFF];

    private static ReadOnlySpan<byte> FinishingTail => [0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];

    private ReadOnlyMemory<byte> _payload;
    private int _position;
    private bool _finish;
    private int _tailPosition = 4; // nothing to hand out until a message is set

    private ReadOnlySpan<byte> Tail => _finish ? FinishingTail : SyncTail;

    /// <summary>True when all of the payload has been handed out (the tail may not have been).</summary>
    public bool PayloadConsumed => _position == _payload.Length;

    /// <summary>True when the payload and the tail have all been handed out.</summary>
    public bool IsDrained => _position == _payload.Length && _tailPosition == Tail.Length;

    /// <summary>Reads asked for once everything had been handed out.</summary>
    public int ReadsAfterEnd { get; private set; }

    /// <param name="payload">The compressed message, without the four octets.</param>
    /// <param name="finish">Follow the four octets with an empty final block (see remarks).</param>
    public void SetMessage(ReadOnlyMemory<byte> payload, bool finish)
    {
        _payload = payload;
        _position = 0;
        _finish = finish;
        _tailPosition = 0;
        ReadsAfterEnd = 0;
    }

    /// <summary>Drops the reference to the caller's payload once the message is done.</summary>
    public void Clear()
    {
        _payload = default;
        _position = 0;
        _finish = false;
        _tailPosition = SyncTail.Length;
    }

    public override int Read(Span<byte> buffer)
    {
        if (IsDrained)
        {
            ReadsAfterEnd++;
            return 0;
        }

        int written = 0;
        if (_position < _payload.Length)
        {
            written = Math.Min(buffer.Length, _payload.Length - _position);
            _payload.Span.Slice(_position, written).CopyTo(buffer);
            _position += written;
        }

        ReadOnlySpan<byte> tail = Tail;
        if (_position == _payload.Length && _tailPosition < tail.Length && written < buffer.Length)
        {
            int count = Math.Min(buffer.Length - written, tail.Length - _tailPosition);
            tail.Slice(_tailPosition, count).CopyTo(buffer[written..]);
            _tailPosition += count;
            written += count;
        }

        return written;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
