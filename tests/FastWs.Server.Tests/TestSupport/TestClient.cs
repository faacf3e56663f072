using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// A client built on .NET's <see cref="ClientWebSocket"/> (a WebSocket implementation nobody here wrote).
/// A background loop receives everything into a queue, so tests can wait for a message with a timeout, or
/// check that nothing arrives, without cancelling a receive (which would abort a ClientWebSocket).
/// When the server sends a close frame the loop answers it, like a well-behaved client.
/// </summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly Channel<string> _messages = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<WebSocketCloseStatus?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly TaskCompletionSource<string?> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _receiveLoop = Task.CompletedTask;

    private TestClient(ClientWebSocket socket)
    {
        _socket = socket;
    }

    public ClientWebSocket Socket => _socket;

    /// <summary>Set when the loop saw a close frame from the server.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseDescription { get; private set; }

    /// <summary>Set when the receive loop ended with an exception instead of a close frame.</summary>
    public Exception? ReceiveError { get; private set; }

    /// <summary>
    /// The server's <c>connected</c> message, when it was the very first message (the loop keeps it out of the
    /// queue, so tests' first ReceiveAsync sees what follows it); null until then, or when the first was anything else.
    /// </summary>
    public string? ConnectedMessage { get; private set; }

    /// <summary>The <c>connectionId</c> of the <c>connected</c> message (null until it arrived, see <see cref="WaitConnectedAsync"/>).</summary>
    public string? ConnectionId { get; private set; }

    /// <summary>Waits for the first message and returns the connection id if it was <c>connected</c>, else null.</summary>
    public Task<string?> WaitConnectedAsync(TimeSpan? timeout = null) => _connected.Task.WaitAsync(timeout ?? TestServer.DefaultTimeout);

    /// <summary>Binary messages are unexpected from this server; they are recorded as text with this prefix.</summary>
    public const string BinaryMarker = "<binary>";

    public static Task<TestClient> ConnectAsync(Uri uri, CancellationToken cancellationToken = default) =>
        ConnectAsync(uri, configure: null, cancellationToken);

    /// <summary>Connects with extra client options (request headers, say) set by <paramref name="configure"/>.</summary>
    public static async Task<TestClient> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure, CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TestServer.DefaultTimeout);
        try
        {
            await socket.ConnectAsync(uri, timeout.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new TestClient(socket);
        client._receiveLoop = Task.Run(client.ReceiveLoopAsync);
        return client;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendAsync(byte[] payload, WebSocketMessageType type)
    {
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        await _sendLock.WaitAsync(timeout.Token);
        try
        {
            await _socket.SendAsync(payload, type, endOfMessage: true, timeout.Token);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The next text message, or a test failure when none arrives in time or the connection ended.</summary>
    public async Task<string> ReceiveAsync(TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TestServer.DefaultTimeout;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            if (await _messages.Reader.WaitToReadAsync(cts.Token) && _messages.Reader.TryRead(out string? message))
            {
                return message;
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"No message within {limit.TotalSeconds:0.#} s (socket state {_socket.State})");
        }

        Assert.Fail($"Connection ended while waiting for a message: close status {CloseStatus?.ToString() ?? "none"} '{CloseDescription}', error {ReceiveError?.Message ?? "none"}");
        return null!;
    }

    public async Task<JsonElement> ReceiveJsonAsync(TimeSpan? timeout = null)
    {
        string text = await ReceiveAsync(timeout);
        using JsonDocument document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Receives the next message and checks that its "type" is <paramref name="type"/>.</summary>
    public async Task<JsonElement> ReceiveTypeAsync(string type, TimeSpan? timeout = null)
    {
        string text = await ReceiveAsync(timeout);
        using JsonDocument document = JsonDocument.Parse(text);
        JsonElement root = document.RootElement;
        Assert.True(root.TryGetProperty("type", out JsonElement actual) && actual.GetString() == type, $"Expected a '{type}' message, got {text}");
        return root.Clone();
    }

    /// <summary>Passes when no message arrives within <paramref name="wait"/>.</summary>
    public async Task AssertNoMessageAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            if (await _messages.Reader.WaitToReadAsync(cts.Token) && _messages.Reader.TryPeek(out string? message))
            {
                Assert.Fail($"Expected no message, got {message}");
            }
        }
        catch (OperationCanceledException)
        {
            // Nothing arrived: as expected.
        }
    }

    /// <summary>Waits for the receive loop to end and returns the close status the server sent (null: no close frame).</summary>
    public async Task<WebSocketCloseStatus?> WaitForCloseAsync(TimeSpan? timeout = null) =>
        await _closed.Task.WaitAsync(timeout ?? TestServer.DefaultTimeout);

    /// <summary>Waits for the server's close frame and checks its status code.</summary>
    public async Task AssertClosedWithAsync(WebSocketCloseStatus expected, TimeSpan? timeout = null)
    {
        WebSocketCloseStatus? actual = await WaitForCloseAsync(timeout);
        Assert.True(
            actual == expected,
            $"Expected close {(int)expected} ({expected}), got {(actual is null ? "no close frame" : $"{(int)actual} ({actual}) '{CloseDescription}'")}; receive error: {ReceiveError?.ToString() ?? "none"}");
    }

    /// <summary>
    /// Client-initiated close handshake: sends a close frame and waits until the receive loop has the server's
    /// answering close frame. (<see cref="ClientWebSocket.CloseAsync"/> itself is tested without a receive loop:
    /// racing it against a pending ReceiveAsync makes the client, not the server, misbehave now and then.)
    /// </summary>
    public async Task CloseAsync(WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure, string? description = "bye")
    {
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        await _sendLock.WaitAsync(timeout.Token);
        try
        {
            await _socket.CloseOutputAsync(status, description, timeout.Token);
        }
        finally
        {
            _sendLock.Release();
        }

        await AssertClosedWithAsync(status);
        Assert.Equal(WebSocketState.Closed, _socket.State);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _socket.Abort();
        try
        {
            await _receiveLoop.WaitAsync(TestServer.DefaultTimeout);
        }
        catch (Exception)
        {
            // The loop records its own errors.
        }

        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        try
        {
            while (true)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.GetMemory(4096), _stop.Token);
                    buffer.Advance(result.Count);
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = _socket.CloseStatus;
                    CloseDescription = _socket.CloseStatusDescription;
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        // Answer the server's close, as a browser would.
                        await AnswerCloseAsync();
                    }

                    break;
                }

                string text = result.MessageType == WebSocketMessageType.Binary
                    ? BinaryMarker + Convert.ToHexString(buffer.WrittenSpan)
                    : Encoding.UTF8.GetString(buffer.WrittenSpan);
                if (!_connected.Task.IsCompleted)
                {
                    string? id = ConnectedId(text);
                    if (id is not null)
                    {
                        ConnectedMessage = text;
                        ConnectionId = id;
                        _connected.TrySetResult(id);
                        continue;
                    }

                    _connected.TrySetResult(null);
                }

                _messages.Writer.TryWrite(text);
            }
        }
        catch (Exception ex)
        {
            ReceiveError = ex;
        }
        finally
        {
            _messages.Writer.TryComplete();
            _connected.TrySetResult(null);
            _closed.TrySetResult(CloseStatus);
        }
    }

    /// <summary>The connectionId of a <c>{"type":"connected",...}</c> message; null for any other text.</summary>
    private static string? ConnectedId(string text)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(text);
            JsonElement root = document.RootElement;
            return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
                && type.GetString() == "connected" && root.TryGetProperty("connectionId", out JsonElement id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private async Task AnswerCloseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            await _sendLock.WaitAsync(timeout.Token);
            try
            {
                await _socket.CloseOutputAsync(CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception)
        {
            // The server may already have dropped the connection after its close frame.
        }
    }
}
