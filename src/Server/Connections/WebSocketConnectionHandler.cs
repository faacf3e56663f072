using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using FastWs.Protocol.Compression;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;
using FastWs.Server.Auth;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Http;
using FastWs.Server.Messages;
using FastWs.Server.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FastWs.Server.Connections;

/// <summary>
/// Serves one raw Kestrel connection on the WebSocket endpoint: reads the HTTP upgrade with the protocol
/// library, answers 101 or a precise HTTP error, applies the connection limits, then runs the frame loop until
/// either side closes, and finally frees everything the connection held.
/// </summary>
public sealed class WebSocketConnectionHandler : ConnectionHandler
{
    private readonly ServerState _state;
    private readonly UpgradeParserOptions _parserOptions;
    private readonly WebSocketReaderOptions _readerOptions;
    // Null when compression is switched off: no offer is then looked at.
    private readonly DeflateNegotiationOptions? _deflateOptions;
    private readonly SubscriptionManager _subscriptions;
    private readonly ClientRequestHandler _requests;

    // Frames straight to the socket, unless switched off or the endpoint has TLS: the socket then carries
    // ciphertext, and only the TLS middleware's pipe (StreamPipeOutput) can put frames into it.
    private readonly bool _directSends;

    private readonly HealthCheckService _health;

    public WebSocketConnectionHandler(ServerState state, HealthCheckService health)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(health);
        _state = state;
        _health = health;
        _parserOptions = new UpgradeParserOptions { MaxHeaderBytes = state.Options.MaxHandshakeHeaderBytes };
        _readerOptions = new WebSocketReaderOptions { MaxMessageSize = state.Options.MaxMessageSize };
        _deflateOptions = state.Options.Compression.Enabled
            ? new DeflateNegotiationOptions { AllowClientContextTakeover = state.Options.Compression.ClientContextTakeover }
            : null;
        _subscriptions = new SubscriptionManager(state);
        _requests = new ClientRequestHandler(_subscriptions, state);
        _directSends = state.Options.Transport.DirectSends && !state.Options.WebSocket.Tls.Enabled;
    }

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);

        // Everything the handshake needed (the request's strings and headers) dies with AcceptAsync; only the
        // connection object lives on in this state machine for the connection's lifetime.
        WebSocketConnection? client = await AcceptAsync(connection).ConfigureAwait(false);
        if (client is null)
        {
            return;
        }

        try
        {
            if (_state.IsShuttingDown)
            {
                client.TrySendClose(CloseCode.GoingAway, "Server is shutting down");
                return;
            }

            if (client.CloseSent)
            {
                // A URL subscription over the key-group limit closed it (KeyGroupLimitAction=Close): clean up below.
                return;
            }

            // The frame loop, inline rather than a method of its own: an idle connection then keeps one async
            // state machine alive instead of two (about 150 bytes each). Everything done with a read's bytes is in
            // ProcessReceived, so no buffer or read result is kept in that state machine between reads either.
            PipeReader input = connection.Transport.Input;
            using var reader = new WebSocketReader(_readerOptions, client.Deflate);
            while (true)
            {
                ReadResult result = await input.ReadAsync().ConfigureAwait(false);
                ReadOutcome outcome = ProcessReceived(client, reader, input, result, out ValueTask<PublishResult> pendingPublish);
                if (outcome == ReadOutcome.WaitForPublishRoom)
                {
                    // The fan-out queue is full: hold this publisher until there is room (the data was already
                    // copied). What it sent after that publish waits in the pipe, and the next read returns it at once.
                    await pendingPublish.ConfigureAwait(false);
                }
                else if (outcome == ReadOutcome.End)
                {
                    return; // the loop is over: clean up below
                }
            }
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            // The peer vanished or the connection was aborted: nothing to answer, just clean up.
        }
        finally
        {
            client.MarkEnded();
            _subscriptions.UnsubscribeAll(client);
            _state.Connections.Remove(client);
            _state.ConnectionLimiter.Release(client.ClientIp);
            _state.Metrics.Closed(client.FinalCloseCode);
            _state.Metrics.ConnectionClosed();
        }
    }

    /// <summary>What the frame loop does after a read has been handled.</summary>
    private enum ReadOutcome
    {
        Continue,
        WaitForPublishRoom,
        End,
    }

    /// <summary>
    /// Handles every complete frame of one read, then gives the pipe back what is left and delivers the publishes
    /// the read queued, as one batch. Stops early, leaving the rest unexamined, when a publish has to wait for
    /// room in the fan-out queue (<paramref name="pendingPublish"/>).
    /// </summary>
    private ReadOutcome ProcessReceived(WebSocketConnection client, WebSocketReader reader, PipeReader input, in ReadResult result, out ValueTask<PublishResult> pendingPublish)
    {
        pendingPublish = default;
        client.MarkReceived();
        ReadOnlySequence<byte> buffer = result.Buffer;
        ReadOutcome outcome = ReadOutcome.Continue;
        try
        {
            while (outcome == ReadOutcome.Continue)
            {
                WebSocketReadStatus status = reader.Read(ref buffer, out WebSocketMessage message);
                if (status == WebSocketReadStatus.NeedMoreData)
                {
                    break;
                }

                if (status == WebSocketReadStatus.ProtocolError)
                {
                    _state.Log.ProtocolError(client, reader.ErrorCloseCode, reader.ErrorReason);
                    client.TrySendClose(reader.ErrorCloseCode, reader.ErrorReason);
                    outcome = ReadOutcome.End;
                }
                else if (!HandleMessage(client, message, out pendingPublish))
                {
                    outcome = ReadOutcome.End;
                }
                else if (!pendingPublish.IsCompletedSuccessfully)
                {
                    outcome = ReadOutcome.WaitForPublishRoom;
                }
            }
        }
        finally
        {
            // While a publish waits for room, what follows it counts as unexamined: the next read returns it at once.
            input.AdvanceTo(buffer.Start, outcome == ReadOutcome.WaitForPublishRoom ? buffer.Start : buffer.End);
            if (client.CanPublish)
            {
                // Publishes of this read were queued, not delivered: deliver them now, as one batch.
                _state.Publisher.DeliverQueued();
            }
        }

        client.Flush();
        return outcome == ReadOutcome.Continue && (result.IsCompleted || result.IsCanceled) ? ReadOutcome.End : outcome;
    }

    /// <summary>
    /// Runs the upgrade: on success the 101, the <c>connected</c> message (and the acks of any URL subscriptions) is sent and the registered
    /// connection is returned; otherwise the client has had its answer (an HTTP error, or 101 + close 1008 over a
    /// connection limit) and null is returned.
    /// </summary>
    private async Task<WebSocketConnection?> AcceptAsync(ConnectionContext connection)
    {
        UpgradeRequest? request = null;
        HandshakeFailure failure = HandshakeFailure.Disconnected;
        WebSocketPortRequest plain = WebSocketPortRequest.None;
        long handshakeStarted = _state.Meter.Histograms.HandshakeStamp();
        _state.PendingHandshakes.Add(connection);
        try
        {
            (request, failure, plain) = await ReadUpgradeRequestAsync(connection.Transport).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsDisconnect(ex))
        {
            failure = HandshakeFailure.Disconnected;
        }

        if (!_state.PendingHandshakes.Remove(connection))
        {
            // The supervisor aborted it for taking too long, and counted it as a timeout.
            return null;
        }

        if (plain != WebSocketPortRequest.None)
        {
            // GET /ws/stats, /healthz or /readyz without an upgrade: answered like the HTTP endpoint, not a failed handshake.
            _state.Metrics.PlainHttpRequestServed();
            try
            {
                await WebSocketPortRequests.AnswerAsync(_state, _health, plain, connection.Transport.Output).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsDisconnect(ex))
            {
                // The client left before its answer: nothing more to do.
            }

            return null;
        }

        if (request is null)
        {
            _state.Metrics.HandshakeFailed(failure);
            _state.Log.HandshakeRefused((connection.RemoteEndPoint as IPEndPoint)?.Address, failure);
            return null;
        }

        // Identity before anything is held for the connection: a bad token costs no connection slot.
        UpgradeCredentials credentials = UpgradeCredentials.From(request);
        TokenCheck token = credentials.Token is null ? default : await _state.Auth.ValidateAsync(credentials.Token).ConfigureAwait(false);

        IPAddress? peer = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        IPAddress clientIp = _state.ClientAddress.Resolve(peer, request.ForwardedFor);
        bool badToken = credentials.Token is not null && !token.IsValid;
        string refusal = string.Empty;
        IPAddress countedIp = clientIp;
        bool admitted = !badToken && _state.ConnectionLimiter.TryAcquire(clientIp, out countedIp, out refusal);
        var client = new WebSocketConnection(connection, _state.Metrics, countedIp,
            _state.Options.SlowConsumer.MaxBufferedBytes, _directSends);
        // permessage-deflate (RFC 7692): the first offer the server can accept, or none (a bad offer never fails the upgrade).
        DeflateParameters deflate = default;
        if (_deflateOptions is not null)
        {
            PerMessageDeflateNegotiation.TryNegotiate(request.Extensions, _deflateOptions, out deflate);
        }

        client.WriteAccept(request.Key, credentials.SubProtocol, deflate);

        if (!admitted)
        {
            // Upgrade first, then close (4001 for the token, 1008 over a limit): a browser sees the reason, which an
            // HTTP error would hide.
            ushort code;
            if (badToken)
            {
                _state.Metrics.AuthFailed(token.Failure);
                code = AuthCloseCode.InvalidToken;
                refusal = AuthFailures.Reason(token.Failure);
                _state.Log.AuthFailed(null, clientIp, refusal);
            }
            else
            {
                _state.Metrics.LimitRejected();
                code = CloseCode.PolicyViolation;
                _state.Log.ConnectionLimitRefused(clientIp, refusal);
            }

            _state.Metrics.Closed(code);
            client.TrySendClose(code, refusal);
            client.MarkEnded();
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            return null;
        }

        if (_state.Auth.Origins.Check(request.Origin) == OriginVerdict.Unlisted)
        {
            client.DistrustLoopback();
        }

        if (token.IsValid)
        {
            client.Auth = ConnectionAuth.Authenticated(token.User!);
            _state.Metrics.Authenticated();
        }
        else if (_state.Auth.IsEnabled)
        {
            // No token yet: one may still come as a first message, and channels that need a user wait for it.
            client.Auth = ConnectionAuth.Awaiting(Environment.TickCount64 + (long)_state.Options.Auth.Timeout.TotalMilliseconds);
        }

        _state.Connections.Add(client);
        _state.Metrics.ConnectionOpened();
        if (deflate.IsEnabled)
        {
            _state.Metrics.DeflateNegotiated();
        }

        // The first message after the 101, before the acks of URL subscriptions: the id to send to or close it by.
        client.WriteControl(ReplyEncoder.Connected(client.ConnectionId!, client.User?.Id));
        client.CanPublish = _state.Namespaces.AnyPublishAllowed(client.Caller);
        List<string> urlChannels = ChannelsFromQuery(request.Query);
        if (urlChannels.Count > 0)
        {
            // Several nodes: channels new to this node are followed in the broker first (at once otherwise).
            await _requests.FollowAsync(urlChannels).ConfigureAwait(false);
            _requests.SubscribeFromQuery(client, urlChannels);
        }

        client.Flush();
        _state.Meter.Histograms.HandshakeDone(handshakeStarted);
        return client;
    }

    /// <summary>
    /// Reads until the upgrade request is complete. Returns no request, and why, after answering an error (or
    /// when the client left); bytes after the request stay in the pipe for the frame loop. The handshake timeout
    /// is enforced by the supervisor, which aborts the connection and so ends this read.
    /// </summary>
    /// <remarks>
    /// The transport's writer is only touched to answer an error (the 101 goes through the connection's output).
    /// A GET of <c>/ws/stats</c>, <c>/healthz</c> or <c>/readyz</c> without an upgrade is returned unanswered as
    /// <c>Plain</c>, for the caller to answer once the connection no longer counts as a pending handshake.
    /// </remarks>
    private async Task<(UpgradeRequest? Request, HandshakeFailure Failure, WebSocketPortRequest Plain)> ReadUpgradeRequestAsync(IDuplexPipe transport)
    {
        PipeReader input = transport.Input;
        while (true)
        {
            ReadResult result = await input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            UpgradeParseStatus status = UpgradeRequestParser.TryParse(buffer, _parserOptions, out UpgradeRequest? request, out UpgradeRejection rejection, out SequencePosition consumed);
            switch (status)
            {
                case UpgradeParseStatus.Complete:
                    input.AdvanceTo(consumed);
                    if (!string.Equals(request!.Path, _state.Options.Path, StringComparison.Ordinal))
                    {
                        await RespondAsync(transport.Output, 404, "No WebSocket endpoint at this path").ConfigureAwait(false);
                        return (null, HandshakeFailure.NotFound, default);
                    }

                    if (_state.IsShuttingDown)
                    {
                        await RespondAsync(transport.Output, 503, "Server is shutting down").ConfigureAwait(false);
                        return (null, HandshakeFailure.ShuttingDown, default);
                    }

                    if (_state.Auth.Origins.Check(request.Origin) == OriginVerdict.Denied)
                    {
                        // Cross-site WebSocket hijacking: a page of another site must not ride on this browser's access.
                        _state.Metrics.OriginRejected();
                        await RespondAsync(transport.Output, 403, request.Origin is null ? "Origin header required" : "Origin not allowed").ConfigureAwait(false);
                        return (null, HandshakeFailure.OriginRejected, default);
                    }

                    return (request, default, default);

                case UpgradeParseStatus.Rejected:
                    // Refused only for having no upgrade (so the whole head is valid): stats and health are served here too.
                    WebSocketPortRequest plain = rejection.Failure == UpgradeFailure.MissingUpgrade ? WebSocketPortRequests.Match(buffer) : default;
                    input.AdvanceTo(buffer.End);
                    if (plain != WebSocketPortRequest.None)
                    {
                        return (null, default, plain);
                    }

                    HandshakeResponse.WriteRejection(transport.Output, rejection);
                    await transport.Output.FlushAsync().ConfigureAwait(false);
                    return (null, HandshakeFailures.From(rejection.Failure), default);

                default:
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        return (null, HandshakeFailure.Disconnected, default);
                    }

                    input.AdvanceTo(buffer.Start, buffer.End);
                    break;
            }
        }
    }

    private static async Task RespondAsync(PipeWriter output, int status, string message)
    {
        HandshakeResponse.WriteError(output, status, message);
        await output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Acts on one message or control frame. Returns false when the connection should end.</summary>
    private bool HandleMessage(WebSocketConnection client, in WebSocketMessage message, out ValueTask<PublishResult> pendingPublish)
    {
        pendingPublish = default;
        switch (message.Type)
        {
            case WebSocketMessageType.Text:
                _state.Metrics.MessageIn(message.Payload.Length);
                if (message.WasCompressed)
                {
                    _state.Metrics.CompressedMessageIn();
                }

                if (client.CloseSent)
                {
                    // After our close frame only the peer's close matters (RFC 6455 5.5.1).
                    return true;
                }

                return _requests.Handle(client, message.Payload.Span, out pendingPublish);

            case WebSocketMessageType.Binary:
                _state.Metrics.MessageIn(message.Payload.Length);
                _state.Log.ProtocolError(client, CloseCode.UnsupportedData, "Binary messages are not supported");
                client.TrySendClose(CloseCode.UnsupportedData, "Binary messages are not supported");
                return false;

            case WebSocketMessageType.Ping:
                Span<byte> pong = stackalloc byte[2 + 125];
                int length = FrameWriter.WriteFrame(pong, WebSocketOpcode.Pong, message.Payload.Span);
                client.WritePong(pong[..length]);
                return true;

            case WebSocketMessageType.Pong:
                return true;

            case WebSocketMessageType.Close:
                client.OnRemoteClose(message.CloseStatus, Encoding.UTF8.GetString(message.CloseReason.Span));
                return false;

            default:
                return true;
        }
    }

    private static bool IsDisconnect(Exception ex) =>
        ex is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException or ObjectDisposedException;

    /// <summary>Channel names from <c>?subscribe=a,b&amp;subscribe=c</c>, percent-decoded.</summary>
    private static List<string> ChannelsFromQuery(string query)
    {
        var names = new List<string>();
        if (string.IsNullOrEmpty(query))
        {
            return names;
        }

        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> pair in QueryHelpers.ParseQuery(query))
        {
            if (!string.Equals(pair.Key, "subscribe", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (string? value in pair.Value)
            {
                foreach (string name in (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    names.Add(name);
                }
            }
        }

        return names;
    }
}
