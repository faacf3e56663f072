using System.Globalization;
using System.Text;

namespace FastWs.Protocol.Compression;

/// <summary>
/// What a connection agreed for permessage-deflate (RFC 7692), as <see cref="PerMessageDeflateNegotiation"/>
/// accepted it. <c>default</c> means the extension was not negotiated. Three bytes, so a connection can carry it
/// at no real cost whether or not it uses the extension.
/// </summary>
public readonly struct DeflateParameters : IEquatable<DeflateParameters>
{
    /// <summary>RFC 7692 section 7.1.2: window bits are 8 to 15; 15 (32 KiB) is what applies when nothing is said.</summary>
    public const int MinWindowBits = 8;

    public const int MaxWindowBits = 15;

    /// <summary>
    /// Smallest window zlib's raw deflate compresses with. zlib (since 1.2.9) and zlib-ng refuse windowBits 8 for a raw
    /// stream; dotnet/runtime's ClientWebSocket therefore refuses 8 altogether (WebSocketValidate.MinDeflateWindowBits
    /// is 9), and its newer DeflateStream raises a WindowLog of 8 to 9. Compressing with 9 still honours a peer's 8:
    /// zlib never emits a distance beyond window - MIN_LOOKAHEAD (512 - 262 = 250 bytes), inside a 256-byte window.
    /// </summary>
    public const int MinCompressorWindowBits = 9;

    private const byte EnabledFlag = 1;
    private const byte ClientNoContextTakeoverFlag = 2;
    private const byte ServerBitsInResponseFlag = 4;
    private const byte ClientBitsInResponseFlag = 8;

    private const string ServerNoContextTakeoverOnly = "permessage-deflate; server_no_context_takeover";
    private const string BothNoContextTakeover = ServerNoContextTakeoverOnly + "; client_no_context_takeover";

    private readonly byte _flags;
    private readonly byte _serverMaxWindowBits;
    private readonly byte _clientMaxWindowBits;

    internal DeflateParameters(bool clientNoContextTakeover, int serverMaxWindowBits, bool serverBitsInResponse, int clientMaxWindowBits, bool clientBitsInResponse)
    {
        _flags = (byte)(EnabledFlag
            | (clientNoContextTakeover ? ClientNoContextTakeoverFlag : 0)
            | (serverBitsInResponse ? ServerBitsInResponseFlag : 0)
            | (clientBitsInResponse ? ClientBitsInResponseFlag : 0));
        _serverMaxWindowBits = (byte)serverMaxWindowBits;
        _clientMaxWindowBits = (byte)clientMaxWindowBits;
    }

    /// <summary>
    /// For a client's <see cref="Frames.WebSocketReader"/> after a server accepted its permessage-deflate offer: inflates
    /// the server's messages keeping the window between them, which is right whatever the server answered (with
    /// <c>server_no_context_takeover</c> its messages simply never refer back to an earlier one).
    /// </summary>
    public static DeflateParameters ForClientReader() =>
        new(clientNoContextTakeover: false, MaxWindowBits, serverBitsInResponse: false, MaxWindowBits, clientBitsInResponse: false);

    /// <summary>True when the connection negotiated permessage-deflate: RSV1 may then mark a compressed message.</summary>
    public bool IsEnabled => (_flags & EnabledFlag) != 0;

    /// <summary>
    /// Always true when enabled: the server compresses each message once for every subscriber, so no message may
    /// refer to an earlier one (RFC 7692 section 7.1.1.1 lets the server say so even when the client did not ask).
    /// </summary>
    public bool ServerNoContextTakeover => IsEnabled;

    /// <summary>
    /// The client starts every message with an empty window, so the server need not keep an inflater between
    /// messages. Set when the client offered it, or when the server asked for it (section 7.1.1.2 allows that).
    /// </summary>
    public bool ClientNoContextTakeover => (_flags & ClientNoContextTakeoverFlag) != 0;

    /// <summary>Largest LZ77 window (log2) the server's compressor may use; 15 unless the client offered less.</summary>
    public int ServerMaxWindowBits => IsEnabled ? _serverMaxWindowBits : 0;

    /// <summary>
    /// The windowBits to give a zlib raw deflater for this connection's messages: <see cref="ServerMaxWindowBits"/>,
    /// raised from 8 to 9 (see <see cref="MinCompressorWindowBits"/>), for an encoder that can set its window.
    /// </summary>
    /// <remarks>
    /// .NET 10's public <c>DeflateStream</c> and <c>ZLibCompressionOptions</c> have no window setting: they always
    /// compress with 15 bits. The server's fan-out encoder (FastWs.Server's MessageDeflater) is such an encoder and honours a smaller <see cref="ServerMaxWindowBits"/> N by compressing
    /// only messages of at most 2^N bytes (with <c>server_no_context_takeover</c> no distance can then exceed the
    /// message) and sending larger ones uncompressed, which RFC 7692 allows per message.
    /// </remarks>
    public int ServerCompressorWindowBits => IsEnabled ? Math.Max((int)_serverMaxWindowBits, MinCompressorWindowBits) : 0;

    /// <summary>
    /// Largest window (log2) the client's compressor uses: the value the server echoed, else 15. The server's
    /// inflater always has a 15-bit window (DeflateStream offers no other), which decodes any smaller one.
    /// </summary>
    public int ClientMaxWindowBits => IsEnabled ? _clientMaxWindowBits : 0;

    /// <summary>The <c>Sec-WebSocket-Extensions</c> value of the 101 response; null when not negotiated.</summary>
    public string? ToResponseHeader()
    {
        if (!IsEnabled)
        {
            return null;
        }

        if ((_flags & (ServerBitsInResponseFlag | ClientBitsInResponseFlag)) == 0)
        {
            // What browsers get (they offer no window sizes): one string for every such connection.
            return ClientNoContextTakeover ? BothNoContextTakeover : ServerNoContextTakeoverOnly;
        }

        var text = new StringBuilder(PerMessageDeflateNegotiation.ExtensionName, 110);
        text.Append("; server_no_context_takeover");
        if (ClientNoContextTakeover)
        {
            text.Append("; client_no_context_takeover");
        }

        if ((_flags & ServerBitsInResponseFlag) != 0)
        {
            text.Append("; server_max_window_bits=").Append(_serverMaxWindowBits.ToString(CultureInfo.InvariantCulture));
        }

        if ((_flags & ClientBitsInResponseFlag) != 0)
        {
            text.Append("; client_max_window_bits=").Append(_clientMaxWindowBits.ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    public bool Equals(DeflateParameters other) =>
        _flags == other._flags && _serverMaxWindowBits == other._serverMaxWindowBits && _clientMaxWindowBits == other._clientMaxWindowBits;

    public override bool Equals(object? obj) => obj is DeflateParameters other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_flags, _serverMaxWindowBits, _clientMaxWindowBits);

    public static bool operator ==(DeflateParameters left, DeflateParameters right) => left.Equals(right);

    public static bool operator !=(DeflateParameters left, DeflateParameters right) => !left.Equals(right);

    public override string ToString() => ToResponseHeader() ?? "(not negotiated)";
}
