namespace FastWs.Protocol.Frames;

/// <summary>Which end of the connection a reader or writer serves; it decides which masking rule applies.</summary>
public enum WebSocketRole
{
    /// <summary>Reads client frames, which RFC 6455 5.1 requires to be masked.</summary>
    Server,

    /// <summary>Reads server frames, which must not be masked.</summary>
    Client,
}

/// <summary>Limits and rules for a <see cref="WebSocketReader"/>.</summary>
public sealed class WebSocketReaderOptions
{
    /// <summary>The default message size limit: 64 KiB, counted across all fragments of a message.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    public WebSocketRole Role { get; init; } = WebSocketRole.Server;

    /// <summary>Largest data message accepted, summed over its fragments. Larger messages fail with close 1009.</summary>
    public int MaxMessageSize { get; init; } = DefaultMaxMessageSize;

    /// <summary>
    /// RSV bits (as the 3-bit value of bits 4-6 of the first header byte) that a negotiated extension has given
    /// meaning to. With no extension negotiated this is 0 and any set RSV bit is a protocol error.
    /// </summary>
    public byte AllowedReservedBits { get; init; }

    public static WebSocketReaderOptions ServerDefault { get; } = new();

    public static WebSocketReaderOptions ClientDefault { get; } = new() { Role = WebSocketRole.Client };
}
