namespace FastWs.Protocol.Frames;

/// <summary>What a <see cref="WebSocketReader"/> hands out: a whole data message or a single control frame.</summary>
public enum WebSocketMessageType : byte
{
    Text = WebSocketOpcode.Text,
    Binary = WebSocketOpcode.Binary,
    Close = WebSocketOpcode.Close,
    Ping = WebSocketOpcode.Ping,
    Pong = WebSocketOpcode.Pong,
}

/// <summary>
/// A message read off the wire. <see cref="Payload"/> points into the reader's pooled buffer or into the
/// caller's input buffer, so it is valid only until the next <see cref="WebSocketReader.Read"/> call or until
/// the caller releases the input it passed in, whichever comes first. Copy it to keep it.
/// </summary>
public readonly struct WebSocketMessage
{
    public WebSocketMessage(WebSocketMessageType type, ReadOnlyMemory<byte> payload)
        : this(type, payload, wasCompressed: false)
    {
    }

    public WebSocketMessage(WebSocketMessageType type, ReadOnlyMemory<byte> payload, bool wasCompressed)
    {
        Type = type;
        Payload = payload;
        WasCompressed = wasCompressed;
    }

    public WebSocketMessageType Type { get; }

    /// <summary>The message arrived compressed (permessage-deflate, RSV1); <see cref="Payload"/> is the inflated data.</summary>
    public bool WasCompressed { get; }

    /// <summary>Unmasked payload. For text messages it is known-valid UTF-8. For a close frame it is the whole close payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>For a close frame: the status code, or 1005 (no status received) when the frame had no payload.</summary>
    public ushort CloseStatus => Type == WebSocketMessageType.Close && Payload.Length >= 2
        ? (ushort)((Payload.Span[0] << 8) | Payload.Span[1])
        : CloseCode.NoStatusReceived;

    /// <summary>For a close frame: the UTF-8 reason text that follows the status code (may be empty).</summary>
    public ReadOnlyMemory<byte> CloseReason => Type == WebSocketMessageType.Close && Payload.Length > 2 ? Payload[2..] : ReadOnlyMemory<byte>.Empty;

    public bool IsControl => Type is WebSocketMessageType.Close or WebSocketMessageType.Ping or WebSocketMessageType.Pong;
}

/// <summary>Outcome of one <see cref="WebSocketReader.Read"/> call.</summary>
public enum WebSocketReadStatus
{
    /// <summary>Every byte given was consumed (or a partial header was left in place); read more and call again.</summary>
    NeedMoreData,

    /// <summary>A message or control frame is ready.</summary>
    Message,

    /// <summary>The peer broke the protocol; close with <see cref="WebSocketReader.ErrorCloseCode"/> and the reason.</summary>
    ProtocolError,
}
