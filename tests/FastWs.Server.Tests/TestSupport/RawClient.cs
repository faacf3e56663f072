using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>An HTTP response head (and short body) as a raw client read it.</summary>
internal sealed record RawHttpResponse(int StatusCode, string Head, Dictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out string? value) ? value : null;

    public override string ToString() => Head + Body;
}

/// <summary>A frame as a raw client read it, with a private copy of the payload.</summary>
internal readonly record struct RawFrame(WebSocketMessageType Type, byte[] Payload)
{
    public string Text => Encoding.UTF8.GetString(Payload);

    public ushort CloseStatus => Payload.Length >= 2 ? (ushort)((Payload[0] << 8) | Payload[1]) : CloseCode.NoStatusReceived;
}

/// <summary>
/// A WebSocket client over a plain TCP socket, for what <see cref="System.Net.WebSockets.ClientWebSocket"/> cannot
/// do: malformed handshakes, ping frames, pipelined bytes, a client that stops reading, and cheap churn.
/// Frames are written masked with the protocol library's <see cref="FrameWriter"/> and read with its
/// <see cref="WebSocketReader"/> in client mode.
/// </summary>
internal sealed class RawClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly WebSocketReader _reader = new(WebSocketReaderOptions.ClientDefault);
    private readonly ArrayBufferWriter<byte> _frames = new(256);

    private RawClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 4096, leaveOpen: true));
    }

    public Socket Socket => _socket;

    private const string ConnectedPrefix = "{\"type\":\"connected\"";
    private bool _sawFrame;

    /// <summary>The <c>connected</c> message, once a frame read has passed it (it is skipped when it is the first frame).</summary>
    public string? ConnectedMessage { get; private set; }

    /// <summary>Opens a TCP connection; a small <paramref name="receiveBufferSize"/> makes the kernel buffer fill quickly.</summary>
    public static async Task<RawClient> ConnectAsync(IPEndPoint endPoint, int? receiveBufferSize = null, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is int size)
        {
            socket.ReceiveBufferSize = size;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TestServer.DefaultTimeout);
            await socket.ConnectAsync(endPoint, timeout.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawClient(socket);
    }

    /// <summary>Connects and completes the opening handshake on <paramref name="pathAndQuery"/>; fails the test unless it gets 101.</summary>
    public static async Task<RawClient> ConnectWebSocketAsync(IPEndPoint endPoint, string pathAndQuery = "/ws", int? receiveBufferSize = null, CancellationToken cancellationToken = default)
    {
        RawClient client = await ConnectAsync(endPoint, receiveBufferSize, cancellationToken);
        try
        {
            string key = NewKey();
            await client.SendAsync(UpgradeRequest(endPoint, pathAndQuery, key), cancellationToken);
            RawHttpResponse response = await client.ReadHttpResponseAsync(cancellationToken);
            Assert.Equal(101, response.StatusCode);
            Assert.Equal(HandshakeResponse.ComputeAcceptKey(key), response.Header("Sec-WebSocket-Accept"));
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));

    /// <summary>A well-formed upgrade request; <paramref name="extraHeaders"/> lines end in CRLF.</summary>
    public static string UpgradeRequest(IPEndPoint endPoint, string pathAndQuery, string key, string version = "13", string extraHeaders = "") =>
        $"GET {pathAndQuery} HTTP/1.1\r\nHost: {endPoint}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extraHeaders}\r\n";

    public Task SendAsync(string ascii, CancellationToken cancellationToken = default) => SendAsync(Encoding.UTF8.GetBytes(ascii), cancellationToken);

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestServer.DefaultTimeout);
        await _stream.WriteAsync(bytes, timeout.Token);
    }

    /// <summary>A masked frame, as a client must send it.</summary>
    public static byte[] MaskedFrame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true)
    {
        var writer = new ArrayBufferWriter<byte>(payload.Length + FrameWriter.MaxClientHeaderSize);
        FrameWriter.WriteMaskedFrame(writer, opcode, payload, (uint)Random.Shared.Next() | 1u, fin);
        return writer.WrittenSpan.ToArray();
    }

    public static byte[] MaskedText(string text) => MaskedFrame(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(text));

    public Task SendFrameAsync(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, CancellationToken cancellationToken = default)
    {
        _frames.ResetWrittenCount();
        FrameWriter.WriteMaskedFrame(_frames, opcode, payload, (uint)Random.Shared.Next() | 1u);
        return SendAsync(_frames.WrittenMemory.ToArray(), cancellationToken);
    }

    public Task SendTextAsync(string text, CancellationToken cancellationToken = default) =>
        SendFrameAsync(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(text), cancellationToken);

    public Task SendCloseAsync(ushort code, CancellationToken cancellationToken = default)
    {
        Span<byte> payload = stackalloc byte[2];
        payload[0] = (byte)(code >> 8);
        payload[1] = (byte)code;
        return SendFrameAsync(WebSocketOpcode.Close, payload, cancellationToken);
    }

    /// <summary>Reads one HTTP response: the head, and the body when it has a Content-Length.</summary>
    public async Task<RawHttpResponse> ReadHttpResponseAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestServer.DefaultTimeout);
        string? head = null;
        while (head is null)
        {
            ReadResult result = await _input.ReadAsync(timeout.Token);
            ReadOnlySequence<byte> buffer = result.Buffer;
            var sequenceReader = new SequenceReader<byte>(buffer);
            if (sequenceReader.TryReadTo(out ReadOnlySequence<byte> headBytes, "\r\n\r\n"u8, advancePastDelimiter: true))
            {
                head = Encoding.ASCII.GetString(headBytes) + "\r\n\r\n";
                _input.AdvanceTo(sequenceReader.Position);
                break;
            }

            if (result.IsCompleted)
            {
                _input.AdvanceTo(buffer.End);
                Assert.Fail($"Connection closed before a complete HTTP response head: '{Encoding.ASCII.GetString(buffer)}'");
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
        }

        string[] lines = head.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        string[] statusLine = lines[0].Split(' ', 3);
        Assert.Equal("HTTP/1.1", statusLine[0]);
        int status = int.Parse(statusLine[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        string body = string.Empty;
        if (headers.TryGetValue("Content-Length", out string? lengthText))
        {
            int length = int.Parse(lengthText, System.Globalization.CultureInfo.InvariantCulture);
            body = Encoding.UTF8.GetString(await ReadExactlyAsync(length, timeout.Token));
        }

        return new RawHttpResponse(status, head, headers, body);
    }

    /// <summary>True when the server closes the connection (EOF or reset) within the timeout, without sending more bytes.</summary>
    public async Task<int> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestServer.DefaultTimeout);
        int extra = 0;
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync(cts.Token);
                extra += (int)result.Buffer.Length;
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return extra;
                }
            }
        }
        catch (IOException)
        {
            return extra; // reset by the server: closed too
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The server did not close the connection within {(timeout ?? TestServer.DefaultTimeout).TotalSeconds:0.#} s");
            return -1;
        }
    }

    /// <summary>Reads the next frame (a whole message or a control frame); fails when the connection ends first.</summary>
    public async Task<RawFrame> ReadFrameAsync(TimeSpan? timeout = null)
    {
        RawFrame? frame = await ReadFrameOrEndAsync(timeout);
        Assert.True(frame.HasValue, "Connection closed while waiting for a frame");
        return frame.Value;
    }

    /// <summary>Reads the next frame; null when the connection ends first (EOF or reset). Fails the test on a timeout.</summary>
    public async Task<RawFrame?> ReadFrameOrEndAsync(TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TestServer.DefaultTimeout;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync(cts.Token);
                ReadOnlySequence<byte> buffer = result.Buffer;
                WebSocketReadStatus status = _reader.Read(ref buffer, out WebSocketMessage message);
                Assert.NotEqual(WebSocketReadStatus.ProtocolError, status);
                if (status == WebSocketReadStatus.Message)
                {
                    var frame = new RawFrame(message.Type, message.Payload.ToArray());
                    _input.AdvanceTo(buffer.Start);
                    bool first = !_sawFrame;
                    _sawFrame = true;
                    if (first && frame.Type == WebSocketMessageType.Text && frame.Text.StartsWith(ConnectedPrefix, StringComparison.Ordinal))
                    {
                        // The server's connected message: kept out of the way, so tests read what follows it.
                        ConnectedMessage = frame.Text;
                        continue;
                    }

                    return frame;
                }

                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return null;
                }
            }
        }
        catch (IOException)
        {
            return null; // reset by the server
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"Neither a frame nor the end of the connection within {limit.TotalSeconds:0.#} s");
            return null;
        }
    }

    public async Task<string> ReadTextAsync(TimeSpan? timeout = null)
    {
        RawFrame frame = await ReadFrameAsync(timeout);
        Assert.True(frame.Type == WebSocketMessageType.Text, $"Expected a text frame, got {frame.Type}");
        return frame.Text;
    }

    public async ValueTask DisposeAsync()
    {
        await _input.CompleteAsync();
        _reader.Dispose();
        await _stream.DisposeAsync();
    }

    private async Task<byte[]> ReadExactlyAsync(int length, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(cancellationToken);
            if (result.Buffer.Length >= length)
            {
                byte[] bytes = result.Buffer.Slice(0, length).ToArray();
                _input.AdvanceTo(result.Buffer.GetPosition(length));
                return bytes;
            }

            if (result.IsCompleted)
            {
                Assert.Fail($"Connection closed after {result.Buffer.Length} of {length} body bytes");
            }

            _input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
