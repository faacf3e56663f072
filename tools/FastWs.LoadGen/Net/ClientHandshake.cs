using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using FastWs.LoadGen.Auth;
using FastWs.Protocol.Handshake;

namespace FastWs.LoadGen.Net;

/// <summary>Thrown when the opening handshake fails; <see cref="Kind"/> is a short, countable description.</summary>
internal sealed class HandshakeException : Exception
{
    public HandshakeException(string kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    public HandshakeException()
    {
        Kind = "handshake failed";
    }

    public HandshakeException(string message)
        : base(message)
    {
        Kind = "handshake failed";
    }

    public HandshakeException(string message, Exception innerException)
        : base(message, innerException)
    {
        Kind = "handshake failed";
    }

    public string Kind { get; }
}

/// <summary>The client side of the RFC 6455 opening handshake over a connected socket.</summary>
internal static class ClientHandshake
{
    private static ReadOnlySpan<byte> HeaderEnd => "\r\n\r\n"u8;

    /// <summary>
    /// Sends the upgrade request (with <paramref name="token"/> in the query or the <c>Authorization</c> header when it
    /// goes there) and reads the response head into <paramref name="scratch"/>. Returns the number of bytes of the
    /// head and the total read: bytes after the head are already WebSocket frames. With <paramref name="tls"/> (wss://)
    /// the bytes go through that stream, which wraps <paramref name="socket"/>; without it, straight to the socket.
    /// </summary>
    /// <param name="offerDeflate">Offer permessage-deflate (RFC 7692); <c>Deflated</c> says whether the server accepted it.</param>
    public static async Task<(int HeadLength, int Total, bool Deflated)> PerformAsync(Socket socket, SslStream? tls, WsEndpoint endpoint, string target, PreparedToken? token, byte[] scratch,
        CancellationToken ct, bool offerDeflate = false)
    {
        string key = NewKey();
        int requestLength = WriteRequest(scratch, endpoint.HostHeader, target, key, token, offerDeflate);
        if (tls is not null)
        {
            await tls.WriteAsync(scratch.AsMemory(0, requestLength), ct).ConfigureAwait(false);
        }
        else
        {
            int sent = 0;
            while (sent < requestLength)
            {
                sent += await socket.SendAsync(scratch.AsMemory(sent, requestLength - sent), SocketFlags.None, ct).ConfigureAwait(false);
            }
        }

        int total = 0;
        int headLength;
        while (true)
        {
            if (total == scratch.Length)
            {
                throw new HandshakeException("handshake: response head too large", "The upgrade response head does not fit in " + scratch.Length + " bytes");
            }

            int n = tls is not null
                ? await tls.ReadAsync(scratch.AsMemory(total), ct).ConfigureAwait(false)
                : await socket.ReceiveAsync(scratch.AsMemory(total), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new HandshakeException("handshake: closed before response", "The server closed the connection before answering the upgrade");
            }

            int searchFrom = Math.Max(0, total - 3);
            total += n;
            int end = scratch.AsSpan(searchFrom, total - searchFrom).IndexOf(HeaderEnd);
            if (end >= 0)
            {
                headLength = searchFrom + end + HeaderEnd.Length;
                break;
            }
        }

        bool deflated = Validate(scratch.AsSpan(0, headLength), key, offerDeflate);
        return (headLength, total, deflated);
    }

    /// <summary>Scratch bytes a connection needs for its request and the response head.</summary>
    public static int ScratchSize(PreparedToken? token) => 8192 + (token?.RequestText?.Length ?? 0);

    /// <summary>A fresh Sec-WebSocket-Key: 16 random bytes in base64.</summary>
    public static string NewKey()
    {
        Span<byte> nonce = stackalloc byte[16];
        Random.Shared.NextBytes(nonce);
        return Convert.ToBase64String(nonce);
    }

    /// <summary>
    /// Writes the upgrade request into <paramref name="destination"/> and returns its length. Written piece by piece
    /// straight into the buffer, so a token adds bytes but no allocation: its text was prepared before the ramp
    /// (<see cref="PreparedToken"/>). With the token in the URL it is the last query parameter, after any the target
    /// already has (<c>?subscribe=</c>, or the query of --url).
    /// </summary>
    public static int WriteRequest(Span<byte> destination, string host, string target, string key, PreparedToken? token, bool offerDeflate = false)
    {
        var w = new RequestWriter(destination);
        w.Write("GET "u8);
        w.Write(target);
        if (token is { Placement: TokenPlacement.Url, RequestText: { } query })
        {
            w.Write(target.Contains('?', StringComparison.Ordinal) ? "&token="u8 : "?token="u8);
            w.Write(query);
        }

        w.Write(" HTTP/1.1\r\nHost: "u8);
        w.Write(host);
        w.Write("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "u8);
        w.Write(key);
        w.Write("\r\nSec-WebSocket-Version: 13\r\nUser-Agent: FastWs.LoadGen\r\n"u8);
        if (offerDeflate)
        {
            // What browsers offer: any server window, and the client's own window up to 15 bits.
            w.Write("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"u8);
        }
        if (token is { Placement: TokenPlacement.Header, RequestText: { } bearer })
        {
            w.Write("Authorization: Bearer "u8);
            w.Write(bearer);
            w.Write("\r\n"u8);
        }

        w.Write("\r\n"u8);
        return w.Length;
    }

    /// <summary>Checks the 101 response; returns whether it accepted the permessage-deflate offer.</summary>
    private static bool Validate(ReadOnlySpan<byte> head, string key, bool offeredDeflate)
    {
        string text = Encoding.Latin1.GetString(head);
        string[] lines = text.Split("\r\n", StringSplitOptions.None);
        string status = lines[0];
        // "HTTP/1.1 101 Switching Protocols"
        string[] parts = status.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            throw new HandshakeException("handshake: not HTTP", "Bad status line: " + status);
        }

        if (parts[1] != "101")
        {
            throw new HandshakeException("handshake: HTTP " + parts[1], "Upgrade refused: " + status);
        }

        string? upgrade = null, connection = null, accept = null, extensions = null;
        for (int i = 1; i < lines.Length; i++)
        {
            string line = lines[i];
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = value;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = value;
            }
            else if (name.Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase))
            {
                accept = value;
            }
            else if (name.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase))
            {
                extensions = value;
            }
        }

        if (!string.Equals(upgrade, "websocket", StringComparison.OrdinalIgnoreCase))
        {
            throw new HandshakeException("handshake: bad Upgrade header", "101 without Upgrade: websocket");
        }

        if (connection is null || !connection.Split(',').Any(t => t.Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase)))
        {
            throw new HandshakeException("handshake: bad Connection header", "101 without Connection: Upgrade");
        }

        if (!string.Equals(accept, HandshakeResponse.ComputeAcceptKey(key), StringComparison.Ordinal))
        {
            throw new HandshakeException("handshake: bad Sec-WebSocket-Accept", "Sec-WebSocket-Accept does not match the key");
        }

        if (string.IsNullOrEmpty(extensions))
        {
            return false;
        }

        if (!offeredDeflate || !extensions.Split(';')[0].Trim().Equals("permessage-deflate", StringComparison.OrdinalIgnoreCase) || extensions.Contains(',', StringComparison.Ordinal))
        {
            throw new HandshakeException("handshake: unrequested extension", "The server selected an extension the client did not offer: " + extensions);
        }

        return true;
    }
}

/// <summary>Appends ASCII to a span; a request that does not fit is a handshake error, not a buffer overrun.</summary>
internal ref struct RequestWriter
{
    private readonly Span<byte> _destination;

    public RequestWriter(Span<byte> destination) => _destination = destination;

    public int Length { get; private set; }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        EnsureRoom(bytes.Length);
        bytes.CopyTo(_destination[Length..]);
        Length += bytes.Length;
    }

    /// <summary>Request targets, hosts, keys and prepared tokens are ASCII (the URI is escaped, tokens are checked).</summary>
    public void Write(string ascii)
    {
        EnsureRoom(ascii.Length);
        Length += Encoding.ASCII.GetBytes(ascii, _destination[Length..]);
    }

    private readonly void EnsureRoom(int count)
    {
        if (Length + count > _destination.Length)
        {
            throw new HandshakeException("handshake: request too large", $"The upgrade request does not fit in {_destination.Length} bytes");
        }
    }
}
