namespace FastWs.Protocol.Frames;

/// <summary>Frame opcodes defined by RFC 6455 section 5.2. Values 3-7 and 11-15 are reserved.</summary>
public enum WebSocketOpcode : byte
{
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// <summary>Classification helpers for opcodes.</summary>
public static class WebSocketOpcodeExtensions
{
    /// <summary>Control frames have the high bit of the opcode set (RFC 6455 5.5).</summary>
    public static bool IsControl(this WebSocketOpcode opcode) => ((byte)opcode & 0x8) != 0;

    /// <summary>True for the six opcodes RFC 6455 defines; everything else is reserved and a protocol error.</summary>
    public static bool IsDefined(this WebSocketOpcode opcode) => opcode is WebSocketOpcode.Continuation
        or WebSocketOpcode.Text or WebSocketOpcode.Binary or WebSocketOpcode.Close or WebSocketOpcode.Ping or WebSocketOpcode.Pong;
}
