namespace FastWs.Protocol.Compression;

/// <summary>
/// The stream a <see cref="System.IO.Compression.DeflateStream"/> reads one compressed message from: the message's
/// payload followed by the four octets 0x00 0x00 0xff 0xff that the sender removed (RFC 7692 section 7.2.2), then
/// end of stream until the next message is set. The runtime offers no span-based inflater, so this is how a
/// payload that is already in memory reaches zlib without a copy of its own (DeflateStream copies it once into
/// its input buffer).
/// </summary>
internal sealed class InflateInput : Stream
{
    private static ReadOnlySpan<byte> Tail => [0x00, 0x00, 0xFF, 0xFF];

    private ReadOnlyMemory<byte> _payload;
    private int _position;
    private int _tailPosition = Tail.Length;

    /// <summary>True when the payload and the tail have all been handed out.</summary>
    public bool IsDrained => _position == _payload.Length && _tailPosition == Tail.Length;

    public void SetMessage(ReadOnlyMemory<byte> payload)
    {
        _payload = payload;
        _position = 0;
        _tailPosition = 0;
    }

    /// <summary>Drops the reference to the caller's payload once the message is done.</summary>
    public void Clear()
    {
        _payload = default;
        _position = 0;
        _tailPosition = Tail.Length;
    }

    public override int Read(Span<byte> buffer)
    {
        int written = 0;
        if (_position < _payload.Length)
        {
            written = Math.Min(buffer.Length, _payload.Length - _position);
            _payload.Span.Slice(_position, written).CopyTo(buffer);
            _position += written;
        }

        if (_position == _payload.Length && _tailPosition < Tail.Length && written < buffer.Length)
        {
            int count = Math.Min(buffer.Length - written, Tail.Length - _tailPosition);
            Tail.Slice(_tailPosition, count).CopyTo(buffer[written..]);
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
