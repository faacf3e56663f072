using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Messages;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.WebUtilities;

namespace FastWs.Server.Connections;

/// <summary>
/// Serves one raw Kestrel connection on the WebSocket endpoint: reads the HTTP upgrade with the protocol
/// library, answers 101 or a precise HTTP error, then runs the frame loop until either side closes.
/// </summary>
public sealed class WebSocketConnectionHandler : ConnectionHandler
{
    private readonly ServerState _state;
    private readonly UpgradeParserOptions _parserOptions;
    private readonly WebSocketReaderOptions _readerOptions;
    private readonly SubscriptionManager _subscriptions;
    private readonly ClientRequestHandler _requests;

    public WebSocketConnectionHandler(ServerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _state = state;
        _parserOptions = new UpgradeParserOptions { MaxHeaderBytes = state.Options.MaxHandshakeHeaderBytes };
        _readerOptions = new WebSocketReaderOptions { MaxMessageSize = state.Options.MaxMessageSize };
        _subscriptions = new SubscriptionManager(state.Channels, state.Namespaces, state.Metrics);
        _requests = new ClientRequestHandler(_subscriptions, state.Publisher);
    }

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;

        UpgradeRequest? request = await ReadUpgradeRequestAsync(input, output).ConfigureAwait(false);
        if (request is null)
        {
            return;
        }

        IPAddress? remoteAddress = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        var client = new WebSocketConnection(connection, _state.Metrics, remoteAddress);
        HandshakeResponse.WriteAccept(output, request.Key);
        _state.Connections.Add(client);
        _state.Metrics.ConnectionOpened();
        try
        {
            List<string> urlChannels = ChannelsFromQuery(request.Query);
            if (urlChannels.Count > 0)
            {
                _requests.SubscribeFromQuery(client, urlChannels);
            }

            client.Flush();
            if (_state.IsShuttingDown)
            {
                client.TrySendClose(CloseCode.GoingAway, "Server is shutting down");
                return;
            }

            await RunFrameLoopAsync(client, input).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException)
        {
            // The peer vanished or the connection was aborted: nothing to answer, just clean up.
        }
        finally
        {
            _subscriptions.UnsubscribeAll(client);
            _state.Connections.Remove(client);
            _state.Metrics.ConnectionClosed();
        }
    }

    /// <summary>
    /// Reads until the upgrade request is complete. Returns null after answering an error (or when the client
    /// left or took longer than the handshake timeout); bytes after the request stay in the pipe for the frame loop.
    /// </summary>
    private async Task<UpgradeRequest?> ReadUpgradeRequestAsync(PipeReader input, PipeWriter output)
    {
        using var timeout = new CancellationTokenSource(_state.Options.HandshakeTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _state.Metrics.HandshakeFailed();
                return null;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            UpgradeParseStatus status = UpgradeRequestParser.TryParse(buffer, _parserOptions, out UpgradeRequest? request, out UpgradeRejection rejection, out SequencePosition consumed);
            switch (status)
            {
                case UpgradeParseStatus.Complete:
                    input.AdvanceTo(consumed);
                    if (!string.Equals(request!.Path, _state.Options.Path, StringComparison.Ordinal))
                    {
                        await RespondAsync(output, 404, "No WebSocket endpoint at this path").ConfigureAwait(false);
                        return null;
                    }

                    if (_state.IsShuttingDown)
                    {
                        await RespondAsync(output, 503, "Server is shutting down").ConfigureAwait(false);
                        return null;
                    }

                    return request;

                case UpgradeParseStatus.Rejected:
                    input.AdvanceTo(buffer.End);
                    _state.Metrics.HandshakeFailed();
                    HandshakeResponse.WriteRejection(output, rejection);
                    await output.FlushAsync().ConfigureAwait(false);
                    return null;

                default:
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        _state.Metrics.HandshakeFailed();
                        return null;
                    }

                    input.AdvanceTo(buffer.Start, buffer.End);
                    break;
            }
        }
    }

    private async Task RespondAsync(PipeWriter output, int status, string reason)
    {
        _state.Metrics.HandshakeFailed();
        HandshakeResponse.WriteError(output, status, reason);
        await output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Reads frames until a close handshake, a protocol error, or the peer going away.</summary>
    private async Task RunFrameLoopAsync(WebSocketConnection client, PipeReader input)
    {
        using var reader = new WebSocketReader(_readerOptions);
        while (true)
        {
            ReadResult result = await input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool keepReading = true;
            try
            {
                while (keepReading)
                {
                    WebSocketReadStatus status = reader.Read(ref buffer, out WebSocketMessage message);
                    if (status == WebSocketReadStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status == WebSocketReadStatus.ProtocolError)
                    {
                        client.TrySendClose(reader.ErrorCloseCode, reader.ErrorReason);
                        keepReading = false;
                        break;
                    }

                    keepReading = HandleMessage(client, message, out ValueTask<PublishResult> pendingPublish);
                    if (!pendingPublish.IsCompletedSuccessfully)
                    {
                        // The fan-out queue is full: hold this publisher until there is room (the data was already copied).
                        await pendingPublish.ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            client.Flush();
            if (!keepReading || result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    /// <summary>Acts on one message or control frame. Returns false when the connection should end.</summary>
    private bool HandleMessage(WebSocketConnection client, in WebSocketMessage message, out ValueTask<PublishResult> pendingPublish)
    {
        pendingPublish = default;
        switch (message.Type)
        {
            case WebSocketMessageType.Text:
                _state.Metrics.MessageIn(message.Payload.Length);
                if (!client.Close.CloseSent)
                {
                    _requests.Handle(client, message.Payload.Span, out pendingPublish);
                }

                return true;

            case WebSocketMessageType.Binary:
                _state.Metrics.MessageIn(message.Payload.Length);
                client.TrySendClose(CloseCode.UnsupportedData, "Binary messages are not supported");
                return false;

            case WebSocketMessageType.Ping:
                Span<byte> pong = stackalloc byte[2 + 125];
                int length = FrameWriter.WriteFrame(pong, WebSocketOpcode.Pong, message.Payload.Span);
                client.WriteControl(pong[..length]);
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
