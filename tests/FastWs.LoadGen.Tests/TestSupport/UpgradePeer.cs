using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;

namespace FastWs.LoadGen.Tests.TestSupport;

/// <summary>What the peer saw on one connection: the upgrade request head and the first message after the 101.</summary>
internal sealed record CapturedConnection(string RequestHead, string? FirstText)
{
    /// <summary>"GET /ws?token=... HTTP/1.1".</summary>
    public string RequestLine => RequestHead[..RequestHead.IndexOf("\r\n", StringComparison.Ordinal)];

    public string? Header(string name) => RequestHead.Split("\r\n")
        .Where(line => line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))
        .Select(line => line[(name.Length + 1)..].Trim())
        .FirstOrDefault();
}

/// <summary>
/// A minimal WebSocket server on 127.0.0.1:0 for checking the load tool's own bytes: it records each upgrade request
/// head, answers a valid 101 (the right Sec-WebSocket-Accept), records the first message the client sends (answering
/// an auth message with <c>authenticated</c>), and answers the client's close with a close. Nothing else: no subscribe acks, so runs against it use --channels 0.
/// </summary>
internal sealed class UpgradePeer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _served = [];
    private readonly Task _acceptLoop;

    public UpgradePeer()
    {
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public ConcurrentQueue<CapturedConnection> Connections { get; } = new();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Url(string pathAndQuery = "/ws") => $"ws://127.0.0.1:{Port}{pathAndQuery}";

    /// <summary>Waits (bounded) until <paramref name="count"/> connections have been recorded.</summary>
    public async Task<CapturedConnection[]> WaitForAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (Connections.Count < count)
        {
            await Task.Delay(20, timeout.Token);
        }

        return [.. Connections];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await Task.WhenAll([_acceptLoop, .. _served]).WaitAsync(TimeSpan.FromSeconds(10));
        _listener.Dispose();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _served.Add(ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        using Socket _ = socket;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        CancellationToken ct = timeout.Token;
        string? head = null;
        string? first = null;
        bool firstSeen = false;
        try
        {
            byte[] buffer = new byte[64 * 1024];
            int filled = 0;
            int headEnd;
            while ((headEnd = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct);
                if (n == 0)
                {
                    return;
                }

                filled += n;
            }

            int headLength = headEnd + 4;
            head = Encoding.ASCII.GetString(buffer, 0, headLength);
            string key = new CapturedConnection(head, null).Header("Sec-WebSocket-Key") ?? throw new InvalidOperationException("no Sec-WebSocket-Key");
            string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Accept: {HandshakeResponse.ComputeAcceptKey(key)}\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, ct);

            buffer.AsSpan(headLength, filled - headLength).CopyTo(buffer);
            filled -= headLength;
            using var reader = new WebSocketReader(new WebSocketReaderOptions { Role = WebSocketRole.Server, MaxMessageSize = 1 << 20 });
            while (true)
            {
                var data = new ReadOnlySequence<byte>(buffer, 0, filled);
                while (reader.Read(ref data, out WebSocketMessage message) == WebSocketReadStatus.Message)
                {
                    if (!firstSeen)
                    {
                        firstSeen = true;
                        first = message.Type == WebSocketMessageType.Text ? Encoding.UTF8.GetString(message.Payload.Span) : "<" + message.Type + ">";
                        if (first.StartsWith("{\"type\":\"auth\"", StringComparison.Ordinal))
                        {
                            // Answered as FastWs does, since a message-mode open waits for it.
                            byte[] answer = "{\"type\":\"authenticated\",\"user\":\"peer\"}"u8.ToArray();
                            await socket.SendAsync((byte[])[0x81, (byte)answer.Length, .. answer], SocketFlags.None, ct);
                        }
                    }

                    if (message.Type == WebSocketMessageType.Close)
                    {
                        await socket.SendAsync(new byte[] { 0x88, 0x02, 0x03, 0xE8 }, SocketFlags.None, ct);
                        socket.Shutdown(SocketShutdown.Send);
                        return;
                    }
                }

                int rest = (int)data.Length;
                buffer.AsSpan(filled - rest, rest).CopyTo(buffer);
                filled = rest;
                int read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct);
                if (read == 0)
                {
                    return;
                }

                filled += read;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The client went away or the test is over; what was seen is recorded below.
        }
        finally
        {
            if (head is not null)
            {
                Connections.Enqueue(new CapturedConnection(head, first));
            }
        }
    }
}
