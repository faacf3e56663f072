using System.Buffers.Text;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

namespace FastWs.Server.Broker;

/// <summary>
/// The wire of FastWs's own Redis connection (<see cref="RedisPubSub"/>, with <see cref="RedisPublisher"/> on it): opening
/// one from a StackExchange.Redis configuration string (the first endpoint, TLS, AUTH, the client name), RESP3,
/// encoding a command, and reading RESP2 / RESP3 frames (<see cref="RespPush"/>).
/// </summary>
internal static class RedisWire
{
    /// <summary>Connects, authenticates and names the connection (<c>&lt;ClientName&gt;-<paramref name="role"/></c>).</summary>
    public static (Socket Socket, Stream Stream) Open(ConfigurationOptions config, string role)
    {
        EndPoint endpoint = config.EndPoints[0];
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 10);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 5);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
            // A blocking connect, bounded by the send timeout (Linux applies SO_SNDTIMEO to connect): a socket that
            // was ever used asynchronously stays non-blocking underneath, and .NET then runs every blocking read
            // through its socket engine's thread, one more wake-up per read.
            socket.SendTimeout = Math.Max(1_000, config.ConnectTimeout);
            socket.Connect(endpoint);
            socket.SendTimeout = 0;

            stream = new NetworkStream(socket, ownsSocket: true);
            if (config.Ssl)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                string host = config.SslHost ?? (endpoint as DnsEndPoint)?.Host ?? ((IPEndPoint)endpoint).Address.ToString();
                ssl.AuthenticateAsClient(new SslClientAuthenticationOptions { TargetHost = host, EnabledSslProtocols = config.SslProtocols ?? default });
            }

            if (config.Password is { } password)
            {
                string reply = Request(stream, config.User is { } user ? ["AUTH", user, password] : ["AUTH", password]);
                if (reply.StartsWith('-'))
                {
                    throw new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, CommandFlags.None, "Redis refused AUTH: " + reply);
                }
            }

            if (config.ClientName is { } name)
            {
                Request(stream, ["CLIENT", "SETNAME", name + "-" + role]); // a name Redis refuses is no reason to stay away
            }

            return (socket, stream);
        }
        catch
        {
            stream?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A command before anything else is in flight on the connection, and its reply: a line (<c>+OK</c>, <c>-ERR ...</c>)
    /// or a bulk string's content.
    /// </summary>
    public static string Request(Stream stream, string[] command)
    {
        stream.Write(Encode(command));
        stream.Flush();
        string line = ReadLine(stream);
        if (line.StartsWith('$') && int.TryParse(line.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture, out int length) && length >= 0)
        {
            byte[] content = new byte[length + 2];
            stream.ReadExactly(content);
            return Encoding.UTF8.GetString(content, 0, length);
        }

        return line;
    }

    /// <summary>
    /// Switches the connection to RESP3 (<c>HELLO 3</c>, Redis 6 or newer), where a subscribed connection takes any
    /// command: its replies and the pushed messages share it, told apart by the push type (<c>&gt;</c>).
    /// </summary>
    public static void Hello3(Stream stream)
    {
        stream.Write(Encode(["HELLO", "3"]));
        stream.Flush();
        string head = ReadLine(stream);
        if (head.StartsWith('-'))
        {
            throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "Redis refused HELLO 3 (RESP3 needs Redis 6 or newer): " + head);
        }

        SkipValue(stream, head); // the server's properties, a map
    }

    /// <summary>Reads past the rest of one RESP3 value whose first line is <paramref name="head"/>.</summary>
    private static void SkipValue(Stream stream, string head)
    {
        if (head.Length == 0)
        {
            throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "an empty line from Redis");
        }

        _ = int.TryParse(head.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture, out int n);
        switch (head[0])
        {
            case '$' or '=' or '!' when n >= 0:
                stream.ReadExactly(new byte[n + 2]);
                break;
            case '*' or '~' or '>':
                for (int i = 0; i < n; i++)
                {
                    SkipValue(stream, ReadLine(stream));
                }

                break;
            case '%' or '|':
                for (int i = 0; i < 2 * n; i++)
                {
                    SkipValue(stream, ReadLine(stream));
                }

                break;
        }
    }

    private static string ReadLine(Stream stream)
    {
        var line = new List<byte>();
        int b;
        while ((b = stream.ReadByte()) >= 0 && b != '\n')
        {
            line.Add((byte)b);
        }

        if (b < 0)
        {
            throw new RedisConnectionException(ConnectionFailureType.SocketClosed, CommandFlags.None, "Redis closed the connection");
        }

        return Encoding.UTF8.GetString([.. line]).TrimEnd('\r');
    }

    /// <summary>
    /// Reads what the connection has into <paramref name="buffer"/> after <paramref name="end"/>, first making room
    /// (moving the unparsed bytes from <paramref name="start"/> to the front, or growing it). False when Redis closed it.
    /// </summary>
    public static bool Fill(Stream stream, ref byte[] buffer, ref int start, ref int end)
    {
        if (end == buffer.Length)
        {
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            else
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }

        int read = stream.Read(buffer, end, buffer.Length - end);
        end += read;
        return read > 0;
    }

    public static byte[] Encode(string[] parts)
    {
        var text = new StringBuilder();
        text.Append('*').Append(parts.Length).Append("\r\n");
        foreach (string part in parts)
        {
            text.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }
}

/// <summary>
/// One RESP2 or RESP3 frame: a push (a RESP2 array on a subscribed connection, or RESP3's push type) whose first three
/// elements are bulk strings or integers (<c>message</c> / <c>subscribe</c> / <c>unsubscribe</c> / <c>pong</c>, the
/// channel, the data or count), or a reply: a line (an integer, a status, an error, RESP3's null, boolean, double or
/// big number: <see cref="Kind"/> is its text) or a bulk string (<see cref="Kind"/> is its content). Positions are
/// relative to the frame's start.
/// </summary>
internal readonly record struct RespPush(int Length, Range Kind, Range Channel, Range Payload, bool IsError, bool IsPush = false)
{
    public ReadOnlySpan<byte> Slice(byte[] buffer, int frameStart, Range part) =>
        buffer.AsSpan(frameStart + part.Start.Value, part.End.Value - part.Start.Value);

    /// <summary>Reads one whole frame from the start of <paramref name="data"/>; false when it has not all arrived yet.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out RespPush push)
    {
        push = default;
        int pos = 0;
        if (!TryLine(data, ref pos, out ReadOnlySpan<byte> head) || head.IsEmpty)
        {
            return false;
        }

        if (head[0] is (byte)'-' or (byte)'+' or (byte)':' or (byte)'_' or (byte)'#' or (byte)',' or (byte)'(')
        {
            // A reply line: an error, a status, an integer (or RESP3's null, boolean, double, big number).
            push = new RespPush(pos, 1..head.Length, default, default, head[0] == '-');
            return true;
        }

        if (head[0] == '$')
        {
            if (!Utf8Parser.TryParse(head[1..], out int size, out int parsed) || parsed != head.Length - 1 || size < -1)
            {
                throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "a bad bulk length from Redis");
            }

            if (size < 0)
            {
                push = new RespPush(pos, pos..pos, default, default, IsError: false);
                return true;
            }

            if (data.Length < pos + size + 2)
            {
                return false;
            }

            push = new RespPush(pos + size + 2, pos..(pos + size), default, default, IsError: false);
            return true;
        }

        // An array: a push on a subscribed RESP2 connection (*) or a RESP3 push (>).
        if (head[0] is not ((byte)'*' or (byte)'>') || !Utf8Parser.TryParse(head[1..], out int count, out int used) || used != head.Length - 1 || count < 0)
        {
            throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "an unexpected frame from Redis");
        }

        Span<Range> parts = stackalloc Range[3];
        for (int i = 0; i < count; i++)
        {
            if (!TryLine(data, ref pos, out ReadOnlySpan<byte> item) || item.IsEmpty)
            {
                return false;
            }

            int itemStart = pos - item.Length - 2;
            Range range;
            if (item[0] == '$')
            {
                if (!Utf8Parser.TryParse(item[1..], out int length, out int consumed) || consumed != item.Length - 1 || length < -1)
                {
                    throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "a bad bulk length from Redis");
                }

                if (length < 0)
                {
                    range = pos..pos;
                }
                else
                {
                    if (data.Length < pos + length + 2)
                    {
                        return false;
                    }

                    range = pos..(pos + length);
                    pos += length + 2;
                }
            }
            else if (item[0] is (byte)':' or (byte)'+')
            {
                range = (itemStart + 1)..(pos - 2);
            }
            else
            {
                throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "an unexpected element from Redis");
            }

            if (i < 3)
            {
                parts[i] = range;
            }
        }

        push = new RespPush(pos, count > 0 ? parts[0] : default, count > 1 ? parts[1] : default, count > 2 ? parts[2] : default, IsError: false, IsPush: true);
        return true;
    }

    private static bool TryLine(ReadOnlySpan<byte> data, ref int pos, out ReadOnlySpan<byte> line)
    {
        int end = data[pos..].IndexOf("\r\n"u8);
        if (end < 0)
        {
            line = default;
            return false;
        }

        line = data.Slice(pos, end);
        pos += end + 2;
        return true;
    }
}
