using System.Net.Sockets;
using System.Text;
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
    /// Sends the upgrade request and reads the response head into <paramref name="scratch"/>. Returns the number
    /// of bytes of the head and the total read: bytes after the head are already WebSocket frames.
    /// </summary>
    public static async Task<(int HeadLength, int Total)> PerformAsync(Socket socket, WsEndpoint endpoint, string target, byte[] scratch, CancellationToken ct)
    {
        Span<byte> nonce = stackalloc byte[16];
        Random.Shared.NextBytes(nonce);
        string key = Convert.ToBase64String(nonce);
        string request =
            $"GET {target} HTTP/1.1\r\nHost: {endpoint.HostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: FastWs.LoadGen\r\n\r\n";
        int requestLength = Encoding.ASCII.GetBytes(request, scratch);
        int sent = 0;
        while (sent < requestLength)
        {
            sent += await socket.SendAsync(scratch.AsMemory(sent, requestLength - sent), SocketFlags.None, ct).ConfigureAwait(false);
        }

        int total = 0;
        int headLength;
        while (true)
        {
            if (total == scratch.Length)
            {
                throw new HandshakeException("handshake: response head too large", "The upgrade response head does not fit in " + scratch.Length + " bytes");
            }

            int n = await socket.ReceiveAsync(scratch.AsMemory(total), SocketFlags.None, ct).ConfigureAwait(false);
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

        Validate(scratch.AsSpan(0, headLength), key);
        return (headLength, total);
    }

    private static void Validate(ReadOnlySpan<byte> head, string key)
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

        if (!string.IsNullOrEmpty(extensions))
        {
            throw new HandshakeException("handshake: unrequested extension", "The server selected an extension the client did not offer: " + extensions);
        }
    }
}
