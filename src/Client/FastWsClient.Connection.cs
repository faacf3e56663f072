using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;

namespace FastWs.Client;

/// <summary>The connection loop: connect, read frames until the socket ends, and the close-code policy that decides what comes next; the watchdog (liveness, timeouts).</summary>
public sealed partial class FastWsClient
{
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
}
