using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace FastWs.Protocol.Handshake;

/// <summary>Writes the server side of the opening handshake (RFC 6455 section 4.2.2) and plain HTTP error answers.</summary>
public static class HandshakeResponse
{
    /// <summary>Length of Sec-WebSocket-Accept: base64 of a 20-byte SHA-1 hash.</summary>
    public const int AcceptKeyLength = 28;

    // Keys are 24 characters; anything that fits here is hashed without touching the pool.
    private const int StackKeyBytes = 128;

    private static ReadOnlySpan<byte> WebSocketGuid => "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;

    private static ReadOnlySpan<byte> AcceptPrefix =>
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "u8;

    private static ReadOnlySpan<byte> ProtocolHeader => "Sec-WebSocket-Protocol: "u8;

    private static ReadOnlySpan<byte> ExtensionsHeader => "Sec-WebSocket-Extensions: "u8;

    private static readonly SearchValues<char> HeaderValueChars =
        SearchValues.Create("\t !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private static ReadOnlySpan<byte> Crlf => "\r\n"u8;

    private static ReadOnlySpan<byte> ErrorHeaders => "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "u8;

    private static ReadOnlySpan<byte> ConnectionClose => "\r\nConnection: close\r\n"u8;

    private static ReadOnlySpan<byte> UpgradeRequiredHeaders => "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"u8;

    /// <summary>Computes Sec-WebSocket-Accept for <paramref name="key"/>.</summary>
    public static string ComputeAcceptKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Span<byte> utf8 = stackalloc byte[AcceptKeyLength];
        int written = ComputeAcceptKey(key.AsSpan(), utf8);
        return Encoding.ASCII.GetString(utf8[..written]);
    }

    /// <summary>
    /// Computes Sec-WebSocket-Accept for <paramref name="key"/> into <paramref name="utf8Destination"/> without
    /// allocating, and returns the number of bytes written (always <see cref="AcceptKeyLength"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The destination is too short, or the key is not ASCII.</exception>
    public static int ComputeAcceptKey(ReadOnlySpan<char> key, Span<byte> utf8Destination)
    {
        if (utf8Destination.Length < AcceptKeyLength)
        {
            throw new ArgumentException("Destination must hold at least 28 bytes.", nameof(utf8Destination));
        }

        int total = key.Length + WebSocketGuid.Length;
        byte[]? rented = null;
        Span<byte> input = total <= StackKeyBytes
            ? stackalloc byte[StackKeyBytes]
            : (rented = ArrayPool<byte>.Shared.Rent(total));
        try
        {
            // A parsed key is base64 and so ASCII; a non-ASCII key would hash differently per encoding, so refuse it.
            if (Ascii.FromUtf16(key, input, out int keyBytes) != OperationStatus.Done)
            {
                throw new ArgumentException("Key must be ASCII.", nameof(key));
            }

            WebSocketGuid.CopyTo(input[keyBytes..]);

            Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
            // SHA-1 is mandated by RFC 6455 section 4.2.2; the accept value proves the server read the key, nothing more.
            SHA1.HashData(input[..total], hash);

            Base64.EncodeToUtf8(hash, utf8Destination, out _, out int written);
            return written;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Writes the 101 Switching Protocols response accepting the connection.
    /// </summary>
    /// <param name="output">Destination.</param>
    /// <param name="key">The client's Sec-WebSocket-Key (<see cref="UpgradeRequest.Key"/>).</param>
    /// <param name="subProtocol">The selected sub-protocol, which must be one the client offered; null for none.</param>
    /// <param name="extensions">
    /// The accepted extensions (for example <see cref="Compression.DeflateParameters.ToResponseHeader"/>), which must be
    /// ones the client offered; null for none.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="subProtocol"/> is not an HTTP token, or
    /// <paramref name="extensions"/> is empty or holds a character a header value cannot (CR, LF, other controls, non-ASCII).</exception>
    public static void WriteAccept(IBufferWriter<byte> output, string key, string? subProtocol = null, string? extensions = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(key);

        // A token cannot contain CR, LF or separators, so this also rules out response splitting.
        if (subProtocol is not null && !HttpChars.IsToken(subProtocol.AsSpan()))
        {
            throw new ArgumentException("Sub-protocol must be a non-empty HTTP token.", nameof(subProtocol));
        }

        // Visible ASCII, spaces and tabs only: no response splitting either.
        if (extensions is not null && (extensions.Length == 0 || extensions.AsSpan().ContainsAnyExcept(HeaderValueChars)))
        {
            throw new ArgumentException("Extensions must be a non-empty header value of visible ASCII.", nameof(extensions));
        }

        int length = AcceptPrefix.Length + AcceptKeyLength + Crlf.Length + Crlf.Length;
        if (subProtocol is not null)
        {
            length += ProtocolHeader.Length + subProtocol.Length + Crlf.Length;
        }

        if (extensions is not null)
        {
            length += ExtensionsHeader.Length + extensions.Length + Crlf.Length;
        }

        Span<byte> span = output.GetSpan(length);
        Span<byte> rest = span;
        Append(ref rest, AcceptPrefix);
        int acceptBytes = ComputeAcceptKey(key.AsSpan(), rest);
        rest = rest[acceptBytes..];
        Append(ref rest, Crlf);
        if (subProtocol is not null)
        {
            Append(ref rest, ProtocolHeader);
            rest = rest[Encoding.ASCII.GetBytes(subProtocol.AsSpan(), rest)..];
            Append(ref rest, Crlf);
        }

        if (extensions is not null)
        {
            Append(ref rest, ExtensionsHeader);
            rest = rest[Encoding.ASCII.GetBytes(extensions.AsSpan(), rest)..];
            Append(ref rest, Crlf);
        }

        Append(ref rest, Crlf);
        output.Advance(span.Length - rest.Length);
    }

    /// <summary>Writes the error response for a parser rejection.</summary>
    public static void WriteRejection(IBufferWriter<byte> output, in UpgradeRejection rejection) =>
        WriteError(output, rejection.StatusCode, rejection.Reason);

    /// <summary>
    /// Writes a complete, self-delimited HTTP/1.1 error response whose plain-text body is <paramref name="reason"/>
    /// plus a newline. It always carries Connection: close, since the connection is not reused after a failed upgrade;
    /// a 426 also names the WebSocket version the server speaks (RFC 6455 section 4.4).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="statusCode"/> is not a three-digit code.</exception>
    public static void WriteError(IBufferWriter<byte> output, int statusCode, string reason)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(reason);
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 999);

        ReadOnlySpan<byte> phrase = GetReasonPhraseUtf8(statusCode);
        bool upgradeRequired = statusCode == 426;
        int bodyLength = Encoding.UTF8.GetByteCount(reason) + 1;

        // A 10-digit bound keeps the size computation simple; the unused tail is not advanced.
        const int maxDigits = 10;
        int length = "HTTP/1.1 "u8.Length + 3 + 1 + phrase.Length + ErrorHeaders.Length + maxDigits
            + ConnectionClose.Length + (upgradeRequired ? UpgradeRequiredHeaders.Length : 0) + Crlf.Length + bodyLength;

        Span<byte> span = output.GetSpan(length);
        Span<byte> rest = span;
        Append(ref rest, "HTTP/1.1 "u8);
        AppendNumber(ref rest, statusCode);
        Append(ref rest, " "u8);
        Append(ref rest, phrase);
        Append(ref rest, ErrorHeaders);
        AppendNumber(ref rest, bodyLength);
        Append(ref rest, ConnectionClose);
        if (upgradeRequired)
        {
            Append(ref rest, UpgradeRequiredHeaders);
        }

        Append(ref rest, Crlf);
        rest = rest[Encoding.UTF8.GetBytes(reason.AsSpan(), rest)..];
        Append(ref rest, "\n"u8);
        output.Advance(span.Length - rest.Length);
    }

    /// <summary>The standard reason phrase for the status codes this server sends, "Error" for any other.</summary>
    public static string GetReasonPhrase(int statusCode) => Encoding.ASCII.GetString(GetReasonPhraseUtf8(statusCode));

    private static ReadOnlySpan<byte> GetReasonPhraseUtf8(int statusCode) => statusCode switch
    {
        400 => "Bad Request"u8,
        403 => "Forbidden"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        426 => "Upgrade Required"u8,
        429 => "Too Many Requests"u8,
        431 => "Request Header Fields Too Large"u8,
        500 => "Internal Server Error"u8,
        503 => "Service Unavailable"u8,
        _ => "Error"u8,
    };

    private static void Append(ref Span<byte> destination, ReadOnlySpan<byte> source)
    {
        source.CopyTo(destination);
        destination = destination[source.Length..];
    }

    private static void AppendNumber(ref Span<byte> destination, int value)
    {
        // The caller sized the buffer for any int, so formatting cannot run out of room.
        value.TryFormat(destination, out int written, default, CultureInfo.InvariantCulture);
        destination = destination[written..];
    }
}
