using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FastWs.Protocol.Compression;

namespace FastWs.Protocol.Frames;

/// <summary>
/// Incremental RFC 6455 reader: feed it whatever bytes have arrived, in any split, and it hands back whole
/// data messages (fragments assembled) and control frames, or the close code that the peer's violation calls for.
/// One instance per connection; it is not thread-safe. It performs no I/O.
/// </summary>
/// <remarks>
/// Usage with a <c>PipeReader</c>: pass <c>result.Buffer</c> by ref, handle every <see cref="WebSocketReadStatus.Message"/>
/// before calling again, and when it says <see cref="WebSocketReadStatus.NeedMoreData"/> advance the pipe with
/// <c>AdvanceTo(buffer.Start, buffer.End)</c>. Payload bytes are consumed as they arrive, so a large frame never
/// has to sit in the pipe whole; only an incomplete frame header (at most 14 bytes) is left unconsumed.
/// <para>
/// When a complete unfragmented frame lies in one contiguous span of the input, it is unmasked in place and
/// handed out without a copy. Otherwise payload bytes are copied into a buffer rented from
/// <see cref="ArrayPool{T}.Shared"/>, which is returned on the next call, so steady state allocates nothing and
/// an idle connection holds no buffer.
/// </para>
/// <para>
/// With permessage-deflate negotiated (RFC 7692), RSV1 on the first frame of a data message marks it compressed:
/// the frames are assembled (or taken in place) as they are, then inflated whole by a <see cref="MessageInflater"/>
/// into a pooled buffer no larger than <see cref="WebSocketReaderOptions.MaxMessageSize"/>, and a text message is
/// checked for UTF-8 after inflating. The size limit thus applies twice: to the compressed bytes as they arrive and
/// to the inflated ones as they are produced.
/// </para>
/// </remarks>
public sealed class WebSocketReader : IDisposable
{
    private const int MaxHeaderSize = 14;
    private const int MaxControlPayload = 125;
    private const int MinimumRent = 1024;
    private const byte Rsv1 = 0x4;

    private readonly WebSocketReaderOptions _options;
    private readonly DeflateParameters _deflate;
    // Created on a compressed message, so a connection that negotiated the extension but never uses it (every
    // browser offers it; few send compressed subscribes) carries nothing for it; kept between messages only with
    // client context takeover.
    private MessageInflater? _inflater;
    // Control payloads (at most 125 bytes) are assembled here; allocated on the first control frame, so a
    // connection that never sends one (most browsers) carries no buffer for it.
    private byte[]? _control;

    // The frame being read.
    private bool _inPayload;
    private bool _fin;
    private WebSocketOpcode _opcode;
    private uint _maskKey;
    private bool _masked;
    private long _payloadLength;
    private long _payloadRead;

    // The data message being assembled across fragments.
    private bool _inMessage;
    private WebSocketMessageType _messageType;
    private byte[]? _messageBuffer;
    private int _messageLength;
    private bool _releaseMessageBufferOnNextRead;
    private bool _compressed;
    private byte[]? _inflated;
    private Utf8StreamValidator _utf8;

    private ushort _errorCode;
    private string _errorReason = string.Empty;

    public WebSocketReader(WebSocketReaderOptions? options = null)
        : this(options, default)
    {
    }

    /// <param name="options">Limits and role.</param>
    /// <param name="deflate">What the handshake agreed for permessage-deflate; <c>default</c> when it was not negotiated.</param>
    public WebSocketReader(WebSocketReaderOptions? options, DeflateParameters deflate)
    {
        _options = options ?? WebSocketReaderOptions.ServerDefault;
        _deflate = deflate;
    }

    /// <summary>True while the reader holds zlib state between messages (context takeover after a compressed message).</summary>
    public bool HoldsInflaterState => _inflater?.HoldsState == true;

    /// <summary>The close code to send after <see cref="WebSocketReadStatus.ProtocolError"/> (1002, 1007 or 1009).</summary>
    public ushort ErrorCloseCode => _errorCode;

    /// <summary>A short reason for the close frame after a protocol error.</summary>
    public string ErrorReason => _errorReason;

    /// <summary>True while a data message has started but not finished: between fragments, or while a frame's payload is still arriving.</summary>
    public bool IsMessageInProgress => _inMessage;

    /// <summary>
    /// Consumes bytes from the front of <paramref name="buffer"/> and returns the first message or control
    /// frame that becomes complete. After a protocol error the reader stays failed.
    /// </summary>
    public WebSocketReadStatus Read(ref ReadOnlySequence<byte> buffer, out WebSocketMessage message)
    {
        message = default;
        if (_errorCode != 0)
        {
            return WebSocketReadStatus.ProtocolError;
        }

        if (_releaseMessageBufferOnNextRead)
        {
            ReleaseMessageBuffer();
        }

        while (true)
        {
            if (!_inPayload)
            {
                if (!TryReadHeader(ref buffer))
                {
                    return _errorCode != 0 ? WebSocketReadStatus.ProtocolError : WebSocketReadStatus.NeedMoreData;
                }

                if (TryReadWholeFrameInPlace(ref buffer, out message))
                {
                    return WebSocketReadStatus.Message;
                }

                if (_errorCode != 0)
                {
                    return WebSocketReadStatus.ProtocolError;
                }

                _inPayload = true;
            }

            if (_payloadRead < _payloadLength)
            {
                if (buffer.IsEmpty)
                {
                    return WebSocketReadStatus.NeedMoreData;
                }

                if (!CopyPayload(ref buffer))
                {
                    return WebSocketReadStatus.ProtocolError;
                }

                if (_payloadRead < _payloadLength)
                {
                    return WebSocketReadStatus.NeedMoreData;
                }
            }

            _inPayload = false;
            if (CompleteFrame(out message))
            {
                return WebSocketReadStatus.Message;
            }

            if (_errorCode != 0)
            {
                return WebSocketReadStatus.ProtocolError;
            }
        }
    }

    /// <summary>Returns any pooled buffer and frees any zlib state. The reader must not be used afterwards.</summary>
    public void Dispose()
    {
        ReleaseMessageBuffer();
        _inflater?.Dispose();
        _inflater = null;
    }

    /// <summary>
    /// Parses and validates a frame header. Checks run on the first byte alone where they can, so a peer that
    /// sends a bad opcode is refused without waiting for the rest of the header. Consumes the header on success;
    /// leaves a partial header unconsumed.
    /// </summary>
    private bool TryReadHeader(ref ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[MaxHeaderSize];
        int available = (int)Math.Min(buffer.Length, MaxHeaderSize);
        buffer.Slice(0, available).CopyTo(header);

        byte first = header[0];
        bool fin = (first & 0x80) != 0;
        byte rsv = (byte)((first >> 4) & 0x7);
        var opcode = (WebSocketOpcode)(first & 0x0F);

        bool compressed = false;
        if ((rsv & Rsv1) != 0 && _deflate.IsEnabled)
        {
            // RFC 7692 section 6: RSV1 means "compressed" on the first frame of a data message, and nowhere else.
            if (opcode.IsControl())
            {
                return Fail(CloseCode.ProtocolError, "RSV1 set on a control frame");
            }

            if (opcode == WebSocketOpcode.Continuation)
            {
                return Fail(CloseCode.ProtocolError, "RSV1 set on a continuation frame");
            }

            compressed = true;
            rsv &= unchecked((byte)~Rsv1);
        }

        if ((rsv & ~_options.AllowedReservedBits) != 0)
        {
            return Fail(CloseCode.ProtocolError, (rsv & Rsv1) != 0
                ? "RSV1 set but permessage-deflate was not negotiated"
                : "RSV bits set without a negotiated extension");
        }

        if (!opcode.IsDefined())
        {
            return Fail(CloseCode.ProtocolError, "Reserved opcode");
        }

        if (opcode.IsControl())
        {
            if (!fin)
            {
                return Fail(CloseCode.ProtocolError, "Fragmented control frame");
            }
        }
        else if (opcode == WebSocketOpcode.Continuation)
        {
            if (!_inMessage)
            {
                return Fail(CloseCode.ProtocolError, "Continuation frame with no message in progress");
            }
        }
        else if (_inMessage)
        {
            return Fail(CloseCode.ProtocolError, "New data frame inside a fragmented message");
        }

        if (available < 2)
        {
            return false;
        }

        byte second = header[1];
        bool masked = (second & 0x80) != 0;
        int length7 = second & 0x7F;

        if (masked != (_options.Role == WebSocketRole.Server))
        {
            return Fail(CloseCode.ProtocolError, masked ? "Server frames must not be masked" : "Client frames must be masked");
        }

        if (opcode.IsControl() && length7 > MaxControlPayload)
        {
            return Fail(CloseCode.ProtocolError, "Control frame payload over 125 bytes");
        }

        int lengthBytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
        if (available < 2 + lengthBytes)
        {
            return false;
        }

        long payloadLength;
        if (length7 == 126)
        {
            payloadLength = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        }
        else if (length7 == 127)
        {
            ulong length64 = BinaryPrimitives.ReadUInt64BigEndian(header[2..]);
            if ((length64 & 0x8000_0000_0000_0000UL) != 0)
            {
                return Fail(CloseCode.ProtocolError, "Payload length has the most significant bit set");
            }

            payloadLength = (long)length64;
        }
        else
        {
            payloadLength = length7;
        }

        // Checked before the mask key arrives: an oversized frame is refused as soon as its length is known.
        long alreadyAssembled = opcode == WebSocketOpcode.Continuation ? _messageLength : 0;
        if (!opcode.IsControl() && payloadLength > _options.MaxMessageSize - alreadyAssembled)
        {
            return Fail(CloseCode.MessageTooBig, "Message exceeds the maximum size");
        }

        int headerSize = 2 + lengthBytes + (masked ? 4 : 0);
        if (available < headerSize)
        {
            return false;
        }

        _fin = fin;
        _opcode = opcode;
        _masked = masked;
        _maskKey = masked ? Masking.ReadMaskKey(header.Slice(2 + lengthBytes, 4)) : 0;
        _payloadLength = payloadLength;
        _payloadRead = 0;

        if (!opcode.IsControl() && opcode != WebSocketOpcode.Continuation)
        {
            _inMessage = true;
            _messageType = (WebSocketMessageType)opcode;
            _messageLength = 0;
            _compressed = compressed;
            _utf8.Reset();
        }

        buffer = buffer.Slice(headerSize);
        return true;
    }

    /// <summary>
    /// The zero-copy path: a single-frame data message whose whole payload is already contiguous is unmasked
    /// in the caller's buffer and handed out directly.
    /// </summary>
    private bool TryReadWholeFrameInPlace(ref ReadOnlySequence<byte> buffer, out WebSocketMessage message)
    {
        message = default;
        if (!_fin || _opcode.IsControl() || _opcode == WebSocketOpcode.Continuation || buffer.FirstSpan.Length < _payloadLength)
        {
            return false;
        }

        int length = (int)_payloadLength;
        Memory<byte> payload = MemoryMarshal.AsMemory(buffer.First[..length]);
        if (_masked)
        {
            Masking.Apply(payload.Span, _maskKey, 0);
        }

        if (_compressed)
        {
            if (!TryInflate(payload, out payload))
            {
                return false;
            }
        }
        else if (_messageType == WebSocketMessageType.Text && !Utf8StreamValidator.IsValid(payload.Span))
        {
            return Fail(CloseCode.InvalidPayloadData, "Text message is not valid UTF-8");
        }

        buffer = buffer.Slice(length);
        _inMessage = false;
        message = new WebSocketMessage(_messageType, payload, _compressed);
        return true;
    }

    /// <summary>Copies as much of the current frame's payload as has arrived, unmasking and validating it on the way.</summary>
    private bool CopyPayload(ref ReadOnlySequence<byte> buffer)
    {
        long wanted = _payloadLength - _payloadRead;
        bool control = _opcode.IsControl();
        if (!control)
        {
            EnsureMessageCapacity(_messageLength + (int)wanted);
        }

        while (wanted > 0 && !buffer.IsEmpty)
        {
            ReadOnlySpan<byte> source = buffer.FirstSpan;
            int count = (int)Math.Min(wanted, source.Length);
            Span<byte> destination = control
                ? (_control ??= new byte[MaxControlPayload]).AsSpan((int)_payloadRead, count)
                : _messageBuffer.AsSpan(_messageLength, count);

            source[..count].CopyTo(destination);
            if (_masked)
            {
                Masking.Apply(destination, _maskKey, _payloadRead);
            }

            if (!control)
            {
                if (_messageType == WebSocketMessageType.Text && !_compressed && !_utf8.Append(destination))
                {
                    return Fail(CloseCode.InvalidPayloadData, "Text message is not valid UTF-8");
                }

                _messageLength += count;
            }

            _payloadRead += count;
            wanted -= count;
            buffer = buffer.Slice(count);
        }

        return true;
    }

    /// <summary>Acts on a frame whose payload has fully arrived. Returns true when it yields a message.</summary>
    private bool CompleteFrame(out WebSocketMessage message)
    {
        message = default;
        if (_opcode.IsControl())
        {
            var controlPayload = _payloadLength == 0 ? ReadOnlyMemory<byte>.Empty : new ReadOnlyMemory<byte>(_control, 0, (int)_payloadLength);
            if (_opcode == WebSocketOpcode.Close && !IsValidClosePayload(controlPayload.Span))
            {
                return false;
            }

            message = new WebSocketMessage((WebSocketMessageType)_opcode, controlPayload);
            return true;
        }

        if (!_fin)
        {
            return false;
        }

        var payload = new Memory<byte>(_messageBuffer ?? [], 0, _messageLength);
        if (_compressed)
        {
            if (!TryInflate(payload, out payload))
            {
                return false;
            }
        }
        else if (_messageType == WebSocketMessageType.Text && !_utf8.IsComplete)
        {
            return Fail(CloseCode.InvalidPayloadData, "Text message ends inside a UTF-8 sequence");
        }

        _inMessage = false;
        _releaseMessageBufferOnNextRead = true;
        message = new WebSocketMessage(_messageType, payload, _compressed);
        return true;
    }

    /// <summary>
    /// Inflates a whole compressed message into <see cref="_inflated"/> (released with the message buffer on the next
    /// read) and checks text for UTF-8 there. Fails with 1009 past the size limit, 1007 for bad DEFLATE data or text.
    /// </summary>
    private bool TryInflate(Memory<byte> compressed, out Memory<byte> inflated)
    {
        inflated = default;
        _inflater ??= new MessageInflater(contextTakeover: !_deflate.ClientNoContextTakeover);
        InflateResult result = _inflater.Inflate(compressed, _options.MaxMessageSize, ref _inflated, out int length);
        _releaseMessageBufferOnNextRead = true;
        if (_deflate.ClientNoContextTakeover)
        {
            // Nothing to keep between messages: not even the two small objects (about 100 bytes a connection).
            _inflater = null;
        }

        if (result == InflateResult.TooBig)
        {
            return Fail(CloseCode.MessageTooBig, "Message inflates beyond the maximum size");
        }

        if (result == InflateResult.InvalidData)
        {
            return Fail(CloseCode.InvalidPayloadData, "Compressed message is not valid DEFLATE data");
        }

        inflated = new Memory<byte>(_inflated ?? [], 0, length);
        if (_messageType == WebSocketMessageType.Text && !Utf8StreamValidator.IsValid(inflated.Span))
        {
            return Fail(CloseCode.InvalidPayloadData, "Text message is not valid UTF-8");
        }

        return true;
    }

    /// <summary>RFC 6455 5.5.1 and 7.4: empty, or a valid status code followed by UTF-8 text.</summary>
    private bool IsValidClosePayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0)
        {
            return true;
        }

        if (payload.Length == 1)
        {
            return Fail(CloseCode.ProtocolError, "Close frame payload of 1 byte");
        }

        ushort code = BinaryPrimitives.ReadUInt16BigEndian(payload);
        if (!CloseCode.IsValidOnWire(code))
        {
            return Fail(CloseCode.ProtocolError, "Invalid close code");
        }

        if (!Utf8StreamValidator.IsValid(payload[2..]))
        {
            return Fail(CloseCode.InvalidPayloadData, "Close reason is not valid UTF-8");
        }

        return true;
    }

    private void EnsureMessageCapacity(int needed)
    {
        if (_messageBuffer is not null && _messageBuffer.Length >= needed)
        {
            return;
        }

        // The final size is known from the frame header, so an unfragmented message rents once.
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumRent));
        if (_messageBuffer is not null)
        {
            _messageBuffer.AsSpan(0, _messageLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_messageBuffer);
        }

        _messageBuffer = bigger;
    }

    private void ReleaseMessageBuffer()
    {
        _releaseMessageBufferOnNextRead = false;
        _messageLength = 0;
        if (_messageBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_messageBuffer);
            _messageBuffer = null;
        }

        if (_inflated is not null)
        {
            ArrayPool<byte>.Shared.Return(_inflated);
            _inflated = null;
        }
    }

    private bool Fail(ushort code, string reason)
    {
        _errorCode = code;
        _errorReason = reason;
        return false;
    }
}
