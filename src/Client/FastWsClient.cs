using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;

namespace FastWs.Client;

/// <summary>
/// A FastWs connection that keeps itself up (docs/protocol.md): it reconnects with capped exponential backoff and full
/// jitter, subscribes again with <c>since</c> after every reconnect, and hands each subscription a gapless stream, or
/// an explicit reset when the server could not recover what was missed. The .NET twin of clients/typescript.
/// </summary>
/// <remarks>
/// One background loop per client runs the connections: connect, read frames until the socket ends, decide by the
/// close code what comes next (reconnect after a delay, wait for a token, or stop). Channel state lives under
/// <see cref="Gate"/>; sends go one at a time (ClientWebSocket allows one send in flight).
/// </remarks>
public sealed class FastWsClient : IAsyncDisposable
{
    private const string SubProtocol = "fastws.v1";

    private readonly Uri _uri;
    private readonly FastWsClientOptions _options;
    private readonly Func<double> _random;
    private readonly Dictionary<string, FastWsSubscription> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<long, PendingRequest> _pending = [];
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task? _run;
    private ClientConnection? _connection;
    private string? _token;
    private TaskCompletionSource? _tokenWait;
    private int _attempt;
    private long _nextId;
    private bool _connectedOnce;
    private bool _stopped;
    private bool _disposed;
    private bool _refreshing;
    private bool _retryScheduled;
    private volatile FastWsClientState _state;

    /// <param name="uri">The server's WebSocket URL, e.g. <c>ws://127.0.0.1:8080/ws</c>.</param>
    public FastWsClient(Uri uri, FastWsClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        _uri = uri;
        _options = options ?? new FastWsClientOptions();
        _token = _options.Token;
        _random = _options.Random ?? Random.Shared.NextDouble;
    }

    /// <summary>A connection came up (its <c>connected</c> message arrived).</summary>
    public event EventHandler<FastWsOpenedEventArgs>? Opened;

    /// <summary>A connection ended or an attempt failed; says whether and when the client tries again.</summary>
    public event EventHandler<FastWsClosedEventArgs>? Closed;

    /// <summary>A channel's stream starts over (<c>notRecovered</c>); also an item of the subscription's stream.</summary>
    public event EventHandler<FastWsResetEventArgs>? Reset;

    /// <summary>A gap notice (or a hole) on a channel; the client recovers it with <c>since</c> by itself.</summary>
    public event EventHandler<FastWsGapEventArgs>? Gap;

    /// <summary>Errors without a caller waiting for them (refusals after a reconnect, auth failures, handler exceptions).</summary>
    public event EventHandler<FastWsErrorEventArgs>? Error;

    /// <summary><c>token_expiring</c>, when there is no <see cref="FastWsClientOptions.RefreshToken"/> to answer it.</summary>
    public event EventHandler<FastWsTokenExpiringEventArgs>? TokenExpiring;

    /// <summary>A message sent to this connection by id, or any frame the client does not handle itself.</summary>
    public event EventHandler<FastWsDirectMessageEventArgs>? MessageReceived;

    /// <summary><see cref="State"/> changed.</summary>
    public event EventHandler<FastWsClientState>? StateChanged;

    public FastWsClientState State => _state;

    public bool IsConnected => _state == FastWsClientState.Open;

    /// <summary>The server's id of the current connection (null while disconnected).</summary>
    public string? ConnectionId { get; private set; }

    internal object Gate { get; } = new();

    /// <summary>
    /// Starts the client and completes when the first connection is up. Attempts that fail are retried with the backoff
    /// until <paramref name="cancellationToken"/> gives up (the client keeps trying in the background); throws
    /// <see cref="FastWsException"/> when the client stops first (a refused token without a new one, a key-group limit).
    /// </summary>
    public Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        return _firstOpen.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/> and completes on the server's ack (starting the client if needed). Throws
    /// <see cref="FastWsException"/> when the server refuses it (<c>forbidden</c>, <c>invalid_channel</c>,
    /// <c>limit_exceeded</c>, ...). One subscription per channel per client.
    /// </summary>
    public async Task<FastWsSubscription> SubscribeAsync(string channel, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        var subscription = new FastWsSubscription(this, channel, _options.BufferCapacity);
        lock (Gate)
        {
            if (_stopped)
            {
                throw new FastWsException("closed", "the client is closed", channel);
            }

            if (!_channels.TryAdd(channel, subscription))
            {
                throw new InvalidOperationException($"already subscribed to '{channel}' on this client");
            }
        }

        EnsureStarted();
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await subscription.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _ = LeaveQuietlyAsync(subscription);
            throw;
        }

        return subscription;
    }

    /// <summary>
    /// A new token: sent at once as <c>auth</c> on a live connection, used by every later connection, and the end of a
    /// wait after 4001/4002.
    /// </summary>
    public void SetToken(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        ClientConnection? live;
        TaskCompletionSource? wait;
        lock (Gate)
        {
            _token = token;
            live = _connection is { IsConnected: true } c ? c : null;
            wait = _tokenWait;
            _tokenWait = null;
        }

        wait?.TrySetResult();
        if (live is not null)
        {
            _ = SendAuthAsync(live, token, CancellationToken.None);
        }
    }

    /// <summary>Closes with 1000 and stops for good; streams end, pending calls fail with <c>closed</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        ClientConnection? connection;
        List<FastWsSubscription> subscriptions;
        List<PendingRequest> pending;
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopped = true;
            connection = _connection;
            subscriptions = [.. _channels.Values];
            _channels.Clear();
            pending = [.. _pending.Values];
            _pending.Clear();
        }

        var closed = new FastWsException("closed", "the client is closed");
        _firstOpen.TrySetException(closed);
        _ = _firstOpen.Task.Exception;
        foreach (PendingRequest request in pending)
        {
            request.Completion?.TrySetException(closed);
        }

        if (connection is not null)
        {
            // A close frame first, so the server sees a clean close (it echoes it and the receive loop ends with it).
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _sendLock.WaitAsync(timeout.Token).ConfigureAwait(false);
                try
                {
                    await connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client closed", timeout.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }

                if (_run is not null)
                {
                    await _run.WaitAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or TimeoutException or ObjectDisposedException or InvalidOperationException)
            {
                // Not closing cleanly: the cancellation below drops it.
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            try
            {
                await _run.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The loop is stuck in a callback of the application's; it ends by itself.
            }
        }

        foreach (FastWsSubscription subscription in subscriptions)
        {
            subscription.End(null, closed);
        }

        SetState(FastWsClientState.Closed);
        Raise(Closed, new FastWsClosedEventArgs(1000, "client closed", false, TimeSpan.Zero));
    }

    // ---- the connection loop ----

    private void EnsureStarted()
    {
        lock (Gate)
        {
            if (_stopped)
            {
                throw new FastWsException("closed", "the client is closed");
            }

            _run ??= Task.Run(RunAsync);
        }
    }

    private async Task RunAsync()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested && !IsStopped())
            {
                (int code, string reason, TimeSpan up, string? token) = await RunConnectionAsync(stop).ConfigureAwait(false);
                if (stop.IsCancellationRequested || IsStopped())
                {
                    return;
                }

                if (up >= _options.StableAfter)
                {
                    _attempt = 0; // a connection that stayed up: the next drop starts the backoff from its first step
                }

                TimeSpan? delay = await AfterCloseAsync(code, reason, token, stop).ConfigureAwait(false);
                if (delay is not { } wait)
                {
                    return;
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private bool IsStopped()
    {
        lock (Gate)
        {
            return _stopped;
        }
    }

    /// <summary>One connection from connect to its end: the close code and reason, how long it was up, and its token.</summary>
    private async Task<(int Code, string Reason, TimeSpan Up, string? Token)> RunConnectionAsync(CancellationToken stop)
    {
        SetState(FastWsClientState.Connecting);
        string? token;
        lock (Gate)
        {
            token = _token;
        }

        var socket = new ClientWebSocket();
        Uri uri = Configure(socket.Options, token);
        var connection = new ClientConnection(socket, token);
        using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            connectTimeout.CancelAfter(_options.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(uri, _options.HttpInvoker, connectTimeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                socket.Dispose();
                return (1006, $"no upgrade within {_options.ConnectTimeout.TotalMilliseconds:0} ms", TimeSpan.Zero, token);
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException)
            {
                socket.Dispose();
                return (1006, "connect failed: " + ex.Message, TimeSpan.Zero, token);
            }
        }

        lock (Gate)
        {
            _connection = connection;
        }

        // Disposing the timer ends the watchdog without an exception (2,000 clients dropped at once cost 2,000 fewer).
        var timer = new PeriodicTimer(WatchdogPeriod());
        Task watchdog = WatchdogAsync(connection, timer, stop);
        try
        {
            if (token is not null && _options.TokenTransport == TokenTransport.Message)
            {
                _ = SendAuthAsync(connection, token, stop);
            }

            await FlushAsync(stop).ConfigureAwait(false);
            (int code, string reason) = await ReceiveLoopAsync(connection, stop).ConfigureAwait(false);
            TimeSpan up = connection.IsConnected ? Stopwatch.GetElapsedTime(connection.ConnectedAt) : TimeSpan.Zero;
            return (code, reason, up, token);
        }
        finally
        {
            timer.Dispose();
            await watchdog.ConfigureAwait(false);
            OnDisconnected(connection);
            socket.Dispose();
        }
    }

    /// <summary>Subprotocols, token, compression and the application's own settings; returns the URI to connect to.</summary>
    private Uri Configure(ClientWebSocketOptions socketOptions, string? token)
    {
        socketOptions.AddSubProtocol(SubProtocol);
        foreach (string protocol in _options.SubProtocols)
        {
            socketOptions.AddSubProtocol(protocol);
        }

        Uri uri = _uri;
        if (token is not null)
        {
            switch (_options.TokenTransport)
            {
                case TokenTransport.Header:
                    socketOptions.SetRequestHeader("Authorization", "Bearer " + token);
                    break;
                case TokenTransport.Subprotocol:
                    socketOptions.AddSubProtocol("bearer." + token);
                    break;
                case TokenTransport.Query:
                    var builder = new UriBuilder(_uri);
                    string query = builder.Query.TrimStart('?');
                    builder.Query = (query.Length > 0 ? query + "&" : "") + "token=" + Uri.EscapeDataString(token);
                    uri = builder.Uri;
                    break;
                default:
                    break; // Message: sent after the upgrade
            }
        }

        if (_options.DeflateOptions is { } deflate)
        {
            socketOptions.DangerousDeflateOptions = deflate;
        }

        _options.ConfigureWebSocket?.Invoke(socketOptions);
        return uri;
    }

    /// <summary>
    /// What follows a closed connection (the close-code policy of clients/typescript/README.md): the delay before the
    /// next attempt, or null when the client stops.
    /// </summary>
    private async Task<TimeSpan?> AfterCloseAsync(int code, string reason, string? refusedToken, CancellationToken stop)
    {
        if (code is 4001 or 4002)
        {
            return await AfterAuthCloseAsync(code, reason, refusedToken, stop).ConfigureAwait(false);
        }

        if (code == 1008 && IsKeyGroupLimit(reason))
        {
            // KeyGroupLimitAction=Close: subscribing the same channels again would be refused the same way.
            var error = new FastWsException("limit_exceeded", "closed by the server: " + reason);
            Raise(Closed, new FastWsClosedEventArgs(code, reason, false, TimeSpan.Zero));
            StopWith(error);
            return null;
        }

        // 1008 (connection or rate limit): the server is full or this client sent too much, so the longer backoff.
        BackoffOptions policy = code == 1008 ? _options.PolicyBackoff : _options.Backoff;
        TimeSpan delay = policy.Delay(_attempt++, _random());
        SetState(FastWsClientState.Reconnecting);
        Raise(Closed, new FastWsClosedEventArgs(code, reason, true, delay));
        return delay;
    }

    private static bool IsKeyGroupLimit(string reason) =>
        reason.StartsWith("At most ", StringComparison.Ordinal) && reason.Contains(" subscribers for ", StringComparison.Ordinal);

    /// <summary>4001/4002: never again with the refused token. A new one (refresh callback or <see cref="SetToken"/>) reconnects.</summary>
    private async Task<TimeSpan?> AfterAuthCloseAsync(int code, string reason, string? refused, CancellationToken stop)
    {
        string? current;
        lock (Gate)
        {
            current = _token;
        }

        if (current is not null && current != refused)
        {
            // SetToken came while this socket was closing: try the new token.
            TimeSpan delay = code == 4002 ? TimeSpan.Zero : _options.Backoff.Delay(_attempt++, _random());
            SetState(FastWsClientState.Reconnecting);
            Raise(Closed, new FastWsClosedEventArgs(code, reason, true, delay));
            return delay;
        }

        if (_options.RefreshToken is { } refresh)
        {
            Raise(Closed, new FastWsClosedEventArgs(code, reason, true, TimeSpan.Zero));
            string? fresh = null;
            try
            {
                fresh = await refresh(code == 4002 ? TokenRefreshReason.Expired : TokenRefreshReason.Rejected, stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                RaiseError(new FastWsException("token_refresh_failed", "RefreshToken failed: " + ex.Message));
            }

            if (!string.IsNullOrEmpty(fresh) && fresh != refused)
            {
                lock (Gate)
                {
                    _token = fresh;
                }

                // 4002: the token only ran out, come back at once; 4001: a changed token, with the usual backoff.
                return code == 4002 ? TimeSpan.Zero : _options.Backoff.Delay(_attempt++, _random());
            }
        }
        else
        {
            Raise(Closed, new FastWsClosedEventArgs(code, reason, false, TimeSpan.Zero));
        }

        // No reconnect with the refused token: that would only loop. Wait for SetToken.
        var error = new FastWsException("auth_failed", $"closed with {code} ({reason}); not reconnecting until SetToken gives a new token");
        TaskCompletionSource wait;
        lock (Gate)
        {
            if (_token is not null && _token != refused)
            {
                return TimeSpan.Zero; // SetToken came during the refresh
            }

            wait = _tokenWait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        SetState(FastWsClientState.WaitingForToken);
        if (_firstOpen.TrySetException(error))
        {
            _ = _firstOpen.Task.Exception;
        }

        RaiseError(error);
        await wait.Task.WaitAsync(stop).ConfigureAwait(false);
        _attempt = 0;
        return TimeSpan.Zero;
    }

    /// <summary>Stops for good on the server's word: streams end with <paramref name="error"/>.</summary>
    private void StopWith(FastWsException error)
    {
        List<FastWsSubscription> subscriptions;
        lock (Gate)
        {
            _stopped = true;
            subscriptions = [.. _channels.Values];
            _channels.Clear();
        }

        if (_firstOpen.TrySetException(error))
        {
            _ = _firstOpen.Task.Exception;
        }

        foreach (FastWsSubscription subscription in subscriptions)
        {
            subscription.End(error, error);
        }

        SetState(FastWsClientState.Closed);
        RaiseError(error);
    }

    /// <summary>Reads whole messages until the socket ends; returns the close code (1006 when it ended without one) and reason.</summary>
    private async Task<(int Code, string Reason)> ReceiveLoopAsync(ClientConnection connection, CancellationToken stop)
    {
        ClientWebSocket socket = connection.Socket;
        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (true)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult result;
                do
                {
                    if (buffer.WrittenCount > _options.MaxMessageSize)
                    {
                        connection.Abort($"a message over {_options.MaxMessageSize} bytes");
                    }

                    result = await socket.ReceiveAsync(buffer.GetMemory(4096), stop).ConfigureAwait(false);
                    buffer.Advance(result.Count);
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    int code = socket.CloseStatus is { } status ? (int)status : 1005;
                    string reason = socket.CloseStatusDescription ?? "";
                    await AnswerCloseAsync(socket).ConfigureAwait(false);
                    return (code, reason);
                }

                connection.Touch();
                connection.Delivering = true;
                try
                {
                    await OnFrameAsync(connection, buffer.WrittenMemory, stop).ConfigureAwait(false);
                }
                finally
                {
                    connection.Delivering = false;
                    connection.Touch();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException
                                   || (ex is OperationCanceledException && !stop.IsCancellationRequested))
        {
            return (1006, connection.AbortReason ?? ex.Message);
        }
    }

    /// <summary>Echoes the server's close frame (RFC 6455 5.5.1), briefly: the socket goes either way.</summary>
    private async Task AnswerCloseAsync(ClientWebSocket socket)
    {
        if (socket.State != WebSocketState.CloseReceived)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await _sendLock.WaitAsync(timeout.Token).ConfigureAwait(false);
            try
            {
                await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, "", timeout.Token).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Gone already.
        }
    }

    private void OnDisconnected(ClientConnection connection)
    {
        List<PendingRequest> unsubscribes = [];
        lock (Gate)
        {
            if (_connection == connection)
            {
                _connection = null;
                ConnectionId = null;
            }

            // Unsubscribes are done (nothing is subscribed without a connection); subscribes go out again on the next
            // connection, with since, and complete there.
            unsubscribes.AddRange(_pending.Values.Where(p => p.Kind == RequestKind.Unsubscribe));
            _pending.Clear();
            foreach (FastWsSubscription subscription in _channels.Values)
            {
                subscription.Status = SubscriptionStatus.Queued;
            }
        }

        foreach (PendingRequest request in unsubscribes)
        {
            request.Completion?.TrySetResult();
        }
    }

    /// <summary>
    /// Liveness and timeouts of one connection: no <c>connected</c> in time, an application ping after
    /// <see cref="FastWsClientOptions.IdleTimeout"/> of silence and a drop after <see cref="FastWsClientOptions.PongTimeout"/>
    /// more, and requests without an answer.
    /// </summary>
    private async Task WatchdogAsync(ClientConnection connection, PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(CancellationToken.None).ConfigureAwait(false))
            {
                if (!connection.IsConnected)
                {
                    if (Stopwatch.GetElapsedTime(connection.StartedAt) > _options.ConnectTimeout)
                    {
                        connection.Abort($"no connected message within {_options.ConnectTimeout.TotalMilliseconds:0} ms");
                        return;
                    }

                    continue;
                }

                if (!connection.Delivering)
                {
                    TimeSpan silent = connection.Silent;
                    if (!connection.PingSent && silent >= _options.IdleTimeout)
                    {
                        connection.PingSent = true;
                        await SendAsync(connection, WireRequests.Ping(null), ct).ConfigureAwait(false);
                    }
                    else if (connection.PingSent && silent >= _options.IdleTimeout + _options.PongTimeout)
                    {
                        connection.Abort($"server silent for {(_options.IdleTimeout + _options.PongTimeout).TotalMilliseconds:0} ms");
                        return;
                    }
                }

                ExpireRequests(connection);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed while sending a ping.
        }
    }

    /// <summary>A quarter of the shortest timeout, between 10 ms and 1 s: each fires at most a quarter late.</summary>
    private TimeSpan WatchdogPeriod()
    {
        TimeSpan shortest = new[] { _options.IdleTimeout, _options.PongTimeout, _options.ConnectTimeout, _options.RequestTimeout }.Min();
        return TimeSpan.FromTicks(Math.Clamp(shortest.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks));
    }

    private void ExpireRequests(ClientConnection connection)
    {
        List<PendingRequest> expired = [];
        lock (Gate)
        {
            foreach ((long id, PendingRequest request) in _pending)
            {
                if (Stopwatch.GetElapsedTime(request.SentAt) > _options.RequestTimeout)
                {
                    expired.Add(request);
                    _pending.Remove(id);
                }
            }
        }

        bool abort = false;
        foreach (PendingRequest request in expired)
        {
            var timeout = new FastWsException("timeout", $"no answer to {request.Kind.ToString().ToLowerInvariant()} within {_options.RequestTimeout.TotalMilliseconds:0} ms");
            if (request.Kind != RequestKind.Subscribe)
            {
                request.Completion?.TrySetException(timeout);
                continue;
            }

            foreach (string channel in request.Channels)
            {
                FastWsSubscription? subscription;
                lock (Gate)
                {
                    if (!_channels.TryGetValue(channel, out subscription) || subscription.Status is not (SubscriptionStatus.Subscribing or SubscriptionStatus.Recovering))
                    {
                        continue;
                    }

                    if (!subscription.Acked)
                    {
                        _channels.Remove(channel);
                    }
                }

                if (!subscription.Acked)
                {
                    subscription.End(null, new FastWsException("timeout", timeout.Message, channel));
                }
                else
                {
                    abort = true; // a resubscribe the server does not answer: start over on a new connection
                }
            }
        }

        if (abort)
        {
            connection.Abort("no answer to a resubscribe within " + _options.RequestTimeout.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture) + " ms");
        }
    }

    // ---- frames ----

    private async ValueTask OnFrameAsync(ClientConnection connection, ReadOnlyMemory<byte> frame, CancellationToken stop)
    {
        JsonElement root;
        try
        {
            var reader = new Utf8JsonReader(frame.Span);
            root = JsonElement.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            RaiseError(new FastWsException("bad_frame", "a frame that is not JSON"));
            return;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            Raise(MessageReceived, new FastWsDirectMessageEventArgs(root));
            return;
        }

        // A data message, in either format, has a string channel and a number seq; no reply or notice has a top-level seq.
        if (root.TryGetProperty("channel"u8, out JsonElement channel) && channel.ValueKind == JsonValueKind.String
            && root.TryGetProperty("seq"u8, out JsonElement seq) && seq.ValueKind == JsonValueKind.Number && seq.TryGetInt64(out long n))
        {
            await OnDataAsync(channel.GetString()!, n, root, stop).ConfigureAwait(false);
            return;
        }

        string? type = root.TryGetProperty("type"u8, out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "connected":
                OnConnected(connection, root);
                break;
            case "subscribed":
                await OnSubscribedAsync(root, stop).ConfigureAwait(false);
                break;
            case "unsubscribed":
                OnUnsubscribed(root);
                break;
            case "error":
                await OnErrorAsync(root, stop).ConfigureAwait(false);
                break;
            case "gap":
                await OnGapAsync(root, stop).ConfigureAwait(false);
                break;
            case "pong":
                break; // the liveness ping's answer: any frame counts
            case "authenticated":
                Settle(IdOf(root));
                break;
            case "token_expiring":
                OnTokenExpiring(root);
                break;
            default:
                Raise(MessageReceived, new FastWsDirectMessageEventArgs(root));
                break;
        }
    }

    private void OnConnected(ClientConnection connection, JsonElement message)
    {
        string id = message.TryGetProperty("connectionId"u8, out JsonElement c) ? c.GetString() ?? "" : "";
        string? user = message.TryGetProperty("user"u8, out JsonElement u) ? u.GetString() : null;
        bool reconnected;
        lock (Gate)
        {
            connection.ConnectedAt = Stopwatch.GetTimestamp();
            reconnected = _connectedOnce;
            _connectedOnce = true;
            ConnectionId = id;
        }

        SetState(FastWsClientState.Open);
        _firstOpen.TrySetResult();
        Raise(Opened, new FastWsOpenedEventArgs(id, user, reconnected));
    }

    private async ValueTask OnDataAsync(string channel, long seq, JsonElement message, CancellationToken stop)
    {
        FastWsSubscription? subscription;
        bool snapshot = message.TryGetProperty("snapshot"u8, out JsonElement s) && s.ValueKind == JsonValueKind.True;
        long? hole = null;
        string epoch;
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out subscription) || subscription.Status != SubscriptionStatus.Active)
            {
                return; // not ours, or a stream being recovered: the replay after the ack brings these messages again
            }

            long? last = subscription.Seq;
            if (!snapshot && last is long l && seq <= l)
            {
                return; // already handed on (a replay overlapping a delivery)
            }

            if (!snapshot && last is long before && seq > before + 1)
            {
                // FastWs announces every skip with a gap notice; should a hole come without one, recover it the same way.
                hole = before;
                subscription.Status = SubscriptionStatus.Regap;
            }
            else
            {
                subscription.Seq = seq;
            }

            epoch = subscription.Epoch ?? "";
        }

        if (hole is long from)
        {
            Raise(Gap, new FastWsGapEventArgs(channel, from + 1, seq - 1));
            await FlushAsync(stop).ConfigureAwait(false);
            return;
        }

        await WriteAsync(subscription, FastWsMessage.FromData(channel, epoch, seq, snapshot, message), stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands an item to the subscription's buffer. When it is full this waits, and with it the socket reader: the
    /// backpressure of a reader that does not keep up (README, "Backpressure").
    /// </summary>
    private static async ValueTask WriteAsync(FastWsSubscription subscription, FastWsMessage item, CancellationToken stop)
    {
        try
        {
            if (!subscription.Writer.TryWrite(item))
            {
                await subscription.Writer.WriteAsync(item, stop).ConfigureAwait(false);
            }
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // Unsubscribed meanwhile.
        }
    }

    private async ValueTask OnSubscribedAsync(JsonElement message, CancellationToken stop)
    {
        long? id = IdOf(message);
        var resets = new List<(FastWsSubscription Subscription, FastWsPosition Position, FastWsPosition Previous)>();
        var acks = new List<(FastWsSubscription Subscription, FastWsPosition? Position)>();
        HashSet<string> recovered = Names(message, "recovered"u8);
        HashSet<string> listed = Names(message, "channels"u8);
        JsonElement positions = message.TryGetProperty("positions"u8, out JsonElement p) && p.ValueKind == JsonValueKind.Object ? p : default;
        lock (Gate)
        {
            PendingRequest? request = null;
            if (id is long key && _pending.Remove(key, out PendingRequest? found))
            {
                request = found;
            }

            foreach (string name in listed)
            {
                if (!_channels.TryGetValue(name, out FastWsSubscription? subscription) || subscription.Status == SubscriptionStatus.Queued)
                {
                    continue; // left meanwhile, or queued again for a later request
                }

                subscription.Status = SubscriptionStatus.Active;
                FastWsPosition? position = ReadPosition(positions, name);
                if (position is { } pos)
                {
                    FastWsPosition? previous = subscription.Epoch is { } e && subscription.Seq is long q ? new FastWsPosition(e, q) : null;
                    if (recovered.Contains(name))
                    {
                        subscription.Epoch = pos.Epoch; // messages previous.Seq+1 .. pos.Seq follow now, replayed
                    }
                    else
                    {
                        subscription.Epoch = pos.Epoch;
                        subscription.Seq = pos.Seq;
                        if (previous is { } prev && prev != pos)
                        {
                            // notRecovered (a new epoch after a restart or expiry, or a history too short): start over here.
                            resets.Add((subscription, pos, prev));
                        }
                    }
                }

                if (!subscription.Acked)
                {
                    acks.Add((subscription, position));
                }
            }

            if (request is { Kind: RequestKind.Subscribe })
            {
                foreach (string name in request.Channels)
                {
                    if (!listed.Contains(name) && _channels.TryGetValue(name, out FastWsSubscription? held)
                        && held.Status is SubscriptionStatus.Subscribing or SubscriptionStatus.Recovering)
                    {
                        held.Status = SubscriptionStatus.Waiting; // held by the server until the connection's token comes
                    }
                }
            }
        }

        // The reset goes into the stream before anything else of the channel: the snapshot, if any, follows this frame.
        foreach ((FastWsSubscription subscription, FastWsPosition position, FastWsPosition previous) in resets)
        {
            await WriteAsync(subscription, FastWsMessage.ForReset(subscription.Channel, position, previous), stop).ConfigureAwait(false);
            Raise(Reset, new FastWsResetEventArgs(subscription.Channel, position, previous));
        }

        foreach ((FastWsSubscription subscription, FastWsPosition? position) in acks)
        {
            subscription.Acknowledge(position);
        }
    }

    private void OnUnsubscribed(JsonElement message)
    {
        if (IdOf(message) is long id)
        {
            Settle(id);
            return;
        }

        if (!message.TryGetProperty("reason"u8, out JsonElement reason))
        {
            return;
        }

        // The server removed subscriptions (a refreshed token lost the role they needed): their streams end with it.
        foreach (string name in Names(message, "channels"u8))
        {
            FastWsSubscription? subscription;
            lock (Gate)
            {
                if (!_channels.Remove(name, out subscription))
                {
                    continue;
                }
            }

            var error = new FastWsException("forbidden", reason.GetString() ?? "unsubscribed by the server", name);
            subscription.End(error, error);
            RaiseError(error);
        }
    }

    private async ValueTask OnErrorAsync(JsonElement message, CancellationToken stop)
    {
        string code = message.TryGetProperty("code"u8, out JsonElement c) ? c.GetString() ?? "error" : "error";
        string text = message.TryGetProperty("message"u8, out JsonElement m) ? m.GetString() ?? code : code;
        string? channel = message.TryGetProperty("channel"u8, out JsonElement ch) && ch.ValueKind == JsonValueKind.String ? ch.GetString() : null;
        var error = new FastWsException(code, text, channel);
        PendingRequest? request = null;
        long? id = IdOf(message);
        lock (Gate)
        {
            if (id is long key && _pending.TryGetValue(key, out PendingRequest? found))
            {
                request = found;
                if (found.Kind != RequestKind.Subscribe || channel is null)
                {
                    _pending.Remove(key); // a subscribe's ack still comes for the channels it did not refuse
                }
            }
        }

        bool temporary = code is "rate_limited" or "unavailable";
        if (request is { Kind: RequestKind.Subscribe })
        {
            foreach (string name in channel is null ? request.Channels : [channel])
            {
                await RefuseAsync(name, error, temporary, stop).ConfigureAwait(false);
            }

            return;
        }

        if (request is not null)
        {
            request.Completion?.TrySetException(error);
            RaiseError(error);
            return;
        }

        if (channel is not null && code == "forbidden")
        {
            // A subscription that waited for a token which never came.
            await RefuseAsync(channel, error, false, stop).ConfigureAwait(false);
            return;
        }

        RaiseError(error);
    }

    /// <summary>A subscribe refused for one channel: retried in 5 s when the refusal is temporary and the channel was acked before, dropped otherwise.</summary>
    private Task RefuseAsync(string channel, FastWsException error, bool temporary, CancellationToken stop)
    {
        FastWsSubscription? subscription;
        bool retry = false;
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out subscription))
            {
                return Task.CompletedTask;
            }

            if (temporary && subscription.Acked)
            {
                // A resubscribe after a reconnect or gap hit the rate limit: try again (the limit is a sliding minute).
                subscription.Status = SubscriptionStatus.Queued;
                retry = !_retryScheduled;
                _retryScheduled = true;
            }
            else
            {
                _channels.Remove(channel);
            }
        }

        RaiseError(error);
        if (retry)
        {
            _ = RetryLaterAsync(stop);
        }
        else if (!temporary || !subscription.Acked)
        {
            subscription.End(error, error);
        }

        return Task.CompletedTask;
    }

    private async Task RetryLaterAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5), stop).ConfigureAwait(false);
            lock (Gate)
            {
                _retryScheduled = false;
            }

            await FlushAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private async ValueTask OnGapAsync(JsonElement message, CancellationToken stop)
    {
        string channel = message.TryGetProperty("channel"u8, out JsonElement c) ? c.GetString() ?? "" : "";
        long from = message.TryGetProperty("from"u8, out JsonElement f) && f.TryGetInt64(out long a) ? a : 0;
        long to = message.TryGetProperty("to"u8, out JsonElement t) && t.TryGetInt64(out long b) ? b : 0;
        Raise(Gap, new FastWsGapEventArgs(channel, from, to));
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out FastWsSubscription? subscription) || subscription.Status != SubscriptionStatus.Active)
            {
                return;
            }

            // Leave and come back with since = the last message before the gap; ignore the channel until the new ack.
            subscription.Status = SubscriptionStatus.Regap;
        }

        await FlushAsync(stop).ConfigureAwait(false);
    }

    private void OnTokenExpiring(JsonElement message)
    {
        int seconds = message.TryGetProperty("in"u8, out JsonElement s) && s.TryGetInt32(out int v) ? v : 0;
        if (_options.RefreshToken is not { } refresh)
        {
            Raise(TokenExpiring, new FastWsTokenExpiringEventArgs(seconds));
            return;
        }

        lock (Gate)
        {
            if (_refreshing)
            {
                return;
            }

            _refreshing = true;
        }

        _ = RefreshAsync(refresh);
    }

    /// <summary>Asks the application for a new token off the receive loop, and sends it.</summary>
    private async Task RefreshAsync(Func<TokenRefreshReason, CancellationToken, ValueTask<string?>> refresh)
    {
        try
        {
            string? token = await refresh(TokenRefreshReason.Expiring, _stop.Token).ConfigureAwait(false);
            if (string.IsNullOrEmpty(token))
            {
                RaiseError(new FastWsException("token_refresh_failed", "RefreshToken returned no token"));
            }
            else
            {
                SetToken(token);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            RaiseError(new FastWsException("token_refresh_failed", "RefreshToken failed: " + ex.Message));
        }
        finally
        {
            lock (Gate)
            {
                _refreshing = false;
            }
        }
    }

    // ---- requests ----

    /// <summary>
    /// Sends one subscribe for every queued channel, with <c>since</c> where a position is known, and for channels after a
    /// gap an unsubscribe right before it (the server does not re-join a channel the connection already has).
    /// </summary>
    internal async Task FlushAsync(CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ClientConnection? connection;
            byte[]? leave = null;
            byte[] join;
            lock (Gate)
            {
                connection = _connection;
                if (connection is null || _stopped)
                {
                    return;
                }

                var regap = new List<string>();
                var queued = new List<FastWsSubscription>();
                foreach (FastWsSubscription subscription in _channels.Values)
                {
                    if (subscription.Status == SubscriptionStatus.Regap)
                    {
                        regap.Add(subscription.Channel);
                        queued.Add(subscription);
                    }
                    else if (subscription.Status == SubscriptionStatus.Queued)
                    {
                        queued.Add(subscription);
                    }
                }

                if (queued.Count == 0)
                {
                    return;
                }

                if (regap.Count > 0)
                {
                    leave = WireRequests.Unsubscribe(regap, ++_nextId);
                }

                var since = new Dictionary<string, FastWsPosition>(StringComparer.Ordinal);
                foreach (FastWsSubscription subscription in queued)
                {
                    if (subscription.Epoch is { } epoch && subscription.Seq is long seq)
                    {
                        since[subscription.Channel] = new FastWsPosition(epoch, seq);
                        subscription.Status = SubscriptionStatus.Recovering; // ignore its messages until the ack says what follows
                    }
                    else
                    {
                        subscription.Status = SubscriptionStatus.Subscribing;
                    }
                }

                string[] channels = [.. queued.Select(s => s.Channel)];
                long id = ++_nextId;
                _pending[id] = new PendingRequest(RequestKind.Subscribe, channels, null);
                join = WireRequests.Subscribe(channels, since, id);
            }

            if (leave is not null)
            {
                await connection.Socket.SendAsync(leave, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
            }

            await connection.Socket.SendAsync(join, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            // The connection is going: its end queues every channel again for the next one.
        }
        finally
        {
            _sendLock.Release();
        }
    }

    internal async Task LeaveAsync(FastWsSubscription subscription, CancellationToken ct)
    {
        ClientConnection? connection;
        long id = 0;
        TaskCompletionSource? answered = null;
        lock (Gate)
        {
            if (!_channels.TryGetValue(subscription.Channel, out FastWsSubscription? current) || current != subscription)
            {
                return; // gone already
            }

            _channels.Remove(subscription.Channel);
            // Sent whenever the subscribe may have gone out on the open socket (also before its connected message).
            connection = subscription.Status != SubscriptionStatus.Queued ? _connection : null;
            if (connection is not null)
            {
                id = ++_nextId;
                answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _pending[id] = new PendingRequest(RequestKind.Unsubscribe, [subscription.Channel], answered);
            }
        }

        subscription.End(null, new FastWsException("unsubscribed", "unsubscribed before the server acknowledged", subscription.Channel));
        if (connection is null || answered is null)
        {
            return;
        }

        if (!await SendAsync(connection, WireRequests.Unsubscribe([subscription.Channel], id), ct).ConfigureAwait(false))
        {
            return; // the connection is going: nothing is subscribed without one
        }

        await answered.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task LeaveQuietlyAsync(FastWsSubscription subscription)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.RequestTimeout);
            await LeaveAsync(subscription, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or FastWsException)
        {
            // Best effort.
        }
    }

    private async Task SendAuthAsync(ClientConnection connection, string token, CancellationToken ct)
    {
        long id;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (Gate)
        {
            id = ++_nextId;
            _pending[id] = new PendingRequest(RequestKind.Auth, [], answered);
        }

        _ = answered.Task.Exception; // a refusal is reported as an Error event (and a 4001 close follows)
        await SendAsync(connection, WireRequests.Auth(token, id), ct).ConfigureAwait(false);
    }

    /// <summary>Sends one text message; false when the connection is gone.</summary>
    private async Task<bool> SendAsync(ClientConnection connection, byte[] message, CancellationToken ct)
    {
        try
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await connection.Socket.SendAsync(message, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
                return true;
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            return false;
        }
    }

    private void Settle(long? id)
    {
        if (id is not long key)
        {
            return;
        }

        PendingRequest? request;
        lock (Gate)
        {
            if (!_pending.Remove(key, out request))
            {
                return;
            }
        }

        request.Completion?.TrySetResult();
    }

    // ---- helpers ----

    private static long? IdOf(JsonElement message) =>
        message.TryGetProperty("id"u8, out JsonElement id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out long value) ? value : null;

    private static HashSet<string> Names(JsonElement message, ReadOnlySpan<byte> property)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (message.TryGetProperty(property, out JsonElement list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in list.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    names.Add(item.GetString()!);
                }
            }
        }

        return names;
    }

    private static FastWsPosition? ReadPosition(JsonElement positions, string channel) =>
        positions.ValueKind == JsonValueKind.Object
        && positions.TryGetProperty(channel, out JsonElement position)
        && position.ValueKind == JsonValueKind.Object
        && position.TryGetProperty("epoch"u8, out JsonElement epoch) && epoch.ValueKind == JsonValueKind.String
        && position.TryGetProperty("seq"u8, out JsonElement seq) && seq.TryGetInt64(out long n)
            ? new FastWsPosition(epoch.GetString()!, n)
            : null;

    private void SetState(FastWsClientState state)
    {
        if (_state == state)
        {
            return;
        }

        _state = state;
        Raise(StateChanged, state);
    }

    private void RaiseError(FastWsException error) => Raise(Error, new FastWsErrorEventArgs(error));

    /// <summary>Runs the application's handlers; one that throws is reported as an Error event and never ends the client.</summary>
    private void Raise<T>(EventHandler<T>? handlers, T args)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (EventHandler<T> handler in handlers.GetInvocationList().Cast<EventHandler<T>>())
        {
            try
            {
                handler(this, args);
            }
#pragma warning disable CA1031 // the application's handler may throw anything; the client must go on
            catch (Exception ex) when (args is not FastWsErrorEventArgs)
#pragma warning restore CA1031
            {
                RaiseError(new FastWsException("handler", $"an event handler threw: {ex.Message}"));
            }
#pragma warning disable CA1031
            catch (Exception)
#pragma warning restore CA1031
            {
                // An Error handler that throws: nothing left to report it to.
            }
        }
    }
}
