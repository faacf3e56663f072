using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using FastWs.LoadGen.Auth;
using FastWs.Protocol.Compression;
using FastWs.Protocol.Frames;

namespace FastWs.LoadGen.Net;

/// <summary>Receives what a connection reads. Called on the connection's receive loop; must not block.</summary>
internal interface IConnectionSink
{
    /// <summary>A <c>"type":"message"</c> text message. <paramref name="json"/> is valid only during the call.</summary>
    void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt);

    /// <summary>A <c>"type":"error"</c> message from the server.</summary>
    void OnServerError(WsConnection connection, ReadOnlySpan<byte> json);

    /// <summary>The connection ended in a way the tool did not ask for (server close, reset, protocol error).</summary>
    void OnUnexpectedEnd(WsConnection connection, string kind);
}

/// <summary>
/// A sink that follows channel streams (the reconnect scenario): it also gets every <c>subscribed</c> ack (positions,
/// recovery results), <c>gap</c> notices, and the text messages no other kind fits, which include data in a namespace
/// with the inline format. Called on the receive loop, in the order the server sent them.
/// </summary>
internal interface IStreamSink : IConnectionSink
{
    /// <summary>A <c>subscribed</c> ack, before the open waiting for it is released.</summary>
    void OnSubscribed(WsConnection connection, ReadOnlySpan<byte> json);

    /// <summary>A <see cref="ServerMessageKind.Gap"/> notice or an <see cref="ServerMessageKind.Other"/> message.</summary>
    void OnStreamText(WsConnection connection, ServerMessageKind kind, ReadOnlySpan<byte> json, long receivedAt);
}

/// <summary>Per-connection settings.</summary>
internal sealed class ConnectionOptions
{
    /// <summary>Bytes read per receive call; a read may hold many frames.</summary>
    public int ReceiveBufferSize { get; init; } = 16 * 1024;

    /// <summary>SO_RCVBUF to set before connecting (0 = kernel default). Small values make a non-reading client look slow sooner.</summary>
    public int SocketReceiveBuffer { get; init; }

    /// <summary>Largest message accepted from the server.</summary>
    public int MaxMessageSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>Where connections count what the server made of their tokens (null: not counted).</summary>
    public AuthCounter? Auth { get; init; }

    /// <summary>Offer permessage-deflate; the server's compressed messages are then inflated with the runtime's zlib.</summary>
    public bool OfferDeflate { get; init; }

    /// <summary>What the server speaks: FastWs's JSON protocol, or SignalR's JSON hub protocol (records ending with 0x1E).</summary>
    public Cli.WireProtocol Protocol { get; init; }
}

/// <summary>
/// What the server made of the connections' tokens: <c>authenticated</c> answers to auth messages, and 4001 closes
/// (a refused token: invalid, or any token on a server with no key configured). The refusals are errors as well,
/// counted by their close reason; these totals are for the report's auth metrics.
/// </summary>
internal sealed class AuthCounter
{
    private long _authenticated;
    private long _refused;

    /// <summary><c>{"type":"authenticated"}</c> answers received.</summary>
    public long Authenticated => Interlocked.Read(ref _authenticated);

    /// <summary>Connections the server closed with 4001.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public void AddAuthenticated() => Interlocked.Increment(ref _authenticated);

    public void AddRefused() => Interlocked.Increment(ref _refused);
}

/// <summary>
/// One client WebSocket over a raw <see cref="Socket"/>: a single receive loop per connection reading into one
/// buffer, frames parsed by <see cref="WebSocketReader"/> (several frames per read, fragments assembled),
/// masked frames written by <see cref="FrameWriter"/>. The receive path allocates nothing per message.
/// For <c>wss://</c> an <see cref="SslStream"/> over the same socket carries the bytes; a plain connection has none and
/// every read and write goes straight to the socket, as before TLS support (one null check per call).
/// </summary>
internal sealed class WsConnection : IDisposable
{
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    private readonly Socket _socket;
    private readonly SslStream? _tls;
    private readonly WebSocketReader _reader;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _sendBuffer;
    private readonly IConnectionSink _sink;
    private readonly IStreamSink? _streamSink;
    private readonly AuthCounter? _auth;
    private readonly bool _signalR;
    private bool _signalRHandshakeDone;
    private readonly Lock _endLock = new();
    private byte[] _receive;
    private int _filled;
    private uint _maskState;
    private TaskCompletionSource<bool>? _ackWaiter;
    private TaskCompletionSource? _authWaiter;
    private TaskCompletionSource? _dataWaiter;
    private volatile TaskCompletionSource? _pauseGate;
    private Task _receiveLoop = Task.CompletedTask;
    private int _closeSent;
    private int _disposed;

    /// <summary>Set by <see cref="MarkOpen"/>: from then on an unexpected end goes to the sink; before, the open counts it.</summary>
    private bool _open;

    /// <summary>How the connection ended while it was still opening (reported as the open's failure, see <see cref="Fail"/>).</summary>
    private string? _endWhileOpening;

    private WsConnection(Socket socket, SslStream? tls, ConnectionOptions options, IConnectionSink sink, ReadOnlySpan<byte> initial, int firstFrameSize, bool deflated)
    {
        Deflated = deflated;
        BytesReceived = initial.Length;
        _tls = tls;
        // Room for the largest frame sent at once (an auth message can be a few hundred bytes), so the buffer every
        // connection has anyway is not regrown on the first send.
        _sendBuffer = new ArrayBufferWriter<byte>(Math.Max(256, firstFrameSize));
        _socket = socket;
        _sink = sink;
        _streamSink = sink as IStreamSink;
        _auth = options.Auth;
        _signalR = options.Protocol == Cli.WireProtocol.SignalR;
        _reader = new WebSocketReader(new WebSocketReaderOptions { Role = WebSocketRole.Client, MaxMessageSize = options.MaxMessageSize },
            deflated ? DeflateParameters.ForClientReader() : default);
        _receive = new byte[Math.Max(options.ReceiveBufferSize, initial.Length + 1024)];
        initial.CopyTo(_receive);
        _filled = initial.Length;
        _maskState = (uint)Random.Shared.Next() | 1u;
    }

    /// <summary>Index of the connection in its scenario.</summary>
    public int Id { get; set; }

    /// <summary>Which group's metrics this connection counts in (0 = healthy, 1 = slow).</summary>
    public int Group { get; set; }

    /// <summary>The channel this connection subscribes to, as an index into the scenario's channel list.</summary>
    public int ChannelIndex { get; set; }

    // Counters owned by the receive loop (one thread at a time); read after the run.
    public long ReceivedInWindow;
    public long ReceivedTotal;
    public long LastSeq = -1;
    public long SeqGaps;
    public long SeqBackwards;

    /// <summary>Bytes read from the socket after the upgrade response (frames as they came over the wire); receive loop only.</summary>
    public long BytesReceived;

    /// <summary>Whether the server accepted the permessage-deflate offer.</summary>
    public bool Deflated { get; }

    /// <summary>Close code the server sent, if it closed first (0 otherwise).</summary>
    public ushort ServerCloseCode { get; private set; }

    /// <summary>True once the connection has ended for any reason.</summary>
    public bool IsEnded => _receiveLoop.IsCompleted;

    public bool IsPaused => _pauseGate is not null;

    /// <summary>Completes when the receive loop has ended (the connection is over, for whatever reason).</summary>
    public Task Completion => _receiveLoop;

    /// <summary>
    /// TCP connect plus the opening handshake, with <paramref name="token"/> in the request, or, in message mode, sent
    /// as the first text frame right after the 101 (before anything else can be). The receive loop starts with <see cref="Start"/>.
    /// </summary>
    public static async Task<WsConnection> ConnectAsync(WsEndpoint endpoint, string target, PreparedToken? token, ConnectionOptions options, IConnectionSink sink, CancellationToken ct)
    {
        var socket = new Socket(endpoint.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ClientHandshake.ScratchSize(token));
        WsConnection? connection = null;
        SslStream? tls = null;
        try
        {
            if (options.SocketReceiveBuffer > 0)
            {
                socket.ReceiveBufferSize = options.SocketReceiveBuffer;
            }

            await socket.ConnectAsync(endpoint.EndPoint, ct).ConfigureAwait(false);
            if (endpoint.Tls is { } tlsOptions)
            {
                tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
                try
                {
                    await tls.AuthenticateAsClientAsync(tlsOptions, ct).ConfigureAwait(false);
                }
                catch (AuthenticationException ex)
                {
                    throw new HandshakeException("tls: " + ex.Message, "TLS handshake failed: " + ex.Message);
                }
            }

            (int head, int total, bool deflated) = await ClientHandshake.PerformAsync(socket, tls, endpoint, target, token, scratch, ct, options.OfferDeflate).ConfigureAwait(false);
            int authFrame = token?.AuthMessage is { } message ? FrameWriter.GetHeaderSize(message.Length, masked: true) + message.Length : 0;
            connection = new WsConnection(socket, tls, options, sink, scratch.AsSpan(head, total - head), authFrame, deflated);
            if (token?.AuthMessage is { } auth)
            {
                // Armed before the send: the receive loop has not started, so the answer cannot be read before this.
                connection._authWaiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await connection.SendAsync(WebSocketOpcode.Text, auth, ct).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            if (connection is null)
            {
                tls?.Dispose();
                socket.Dispose();
            }
            else
            {
                connection.Dispose();
            }

            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Arms the wait for a <c>subscribed</c> ack. Call before sending the request (or before <see cref="Start"/> for URL subscriptions).</summary>
    public void ExpectAck() => _ackWaiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Arms a wait for the first data message.</summary>
    public void ExpectData() => _dataWaiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Start() => _receiveLoop = Task.Run(ReceiveLoopAsync);

    /// <summary>
    /// The open succeeded: later unexpected ends are reported to the sink. An end that came while opening (after the
    /// waits were satisfied) is reported now; one that failed a wait was already counted by the open that failed.
    /// </summary>
    public void MarkOpen()
    {
        string? ended;
        lock (_endLock)
        {
            _open = true;
            ended = _endWhileOpening;
        }

        if (ended is not null && _disposed == 0)
        {
            _sink.OnUnexpectedEnd(this, ended);
        }
    }

    /// <summary>
    /// After a send failed while opening: how the server ended the connection, if it did (a 4001 close is read before
    /// the reset that a write into the closed connection draws), waiting briefly for the receive loop to read it.
    /// </summary>
    public async Task<string?> EndWhileOpeningAsync()
    {
        try
        {
            await _receiveLoop.WaitAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still reading: no end to name.
        }

        lock (_endLock)
        {
            return _endWhileOpening;
        }
    }

    /// <summary>Whether an auth message was sent, so <see cref="WaitAuthAsync"/> has an answer to wait for.</summary>
    public bool SentAuthMessage => _authWaiter is not null;

    /// <summary>
    /// Waits for the <c>authenticated</c> answer to the auth message sent by <see cref="ConnectAsync"/>. Throws on
    /// timeout, a refusal (4001 close: the kind names the server's reason) or a <c>bad_request</c> answer.
    /// </summary>
    public async Task WaitAuthAsync(TimeSpan timeout, CancellationToken ct)
    {
        TaskCompletionSource waiter = _authWaiter ?? throw new InvalidOperationException("no auth message was sent");
        try
        {
            await waiter.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new HandshakeException("auth: no answer", "No authenticated answer to the auth message within " + timeout.TotalSeconds + " s");
        }
    }

    /// <summary>Waits for the ack armed by <see cref="ExpectAck"/>. Throws on timeout, refusal, or a lost connection.</summary>
    public async Task WaitAckAsync(TimeSpan timeout, CancellationToken ct)
    {
        TaskCompletionSource<bool> waiter = _ackWaiter ?? throw new InvalidOperationException("ExpectAck was not called");
        bool accepted;
        try
        {
            accepted = await waiter.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new HandshakeException("subscribe: no ack", "No subscribed ack within " + timeout.TotalSeconds + " s");
        }

        if (!accepted)
        {
            throw new HandshakeException("subscribe: refused", "The server acked the subscribe with no channels");
        }
    }

    public async Task WaitDataAsync(TimeSpan timeout, CancellationToken ct)
    {
        TaskCompletionSource waiter = _dataWaiter ?? throw new InvalidOperationException("ExpectData was not called");
        try
        {
            await waiter.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new HandshakeException("receive: no message", "No data message within " + timeout.TotalSeconds + " s");
        }
    }

    /// <summary>Sends <c>{"type":"subscribe","channels":[...],"id":N}</c>.</summary>
    public Task SendSubscribeAsync(IReadOnlyList<string> channels, int id, CancellationToken ct)
    {
        var json = new StringBuilder("{\"type\":\"subscribe\",\"channels\":[");
        for (int i = 0; i < channels.Count; i++)
        {
            json.Append(i == 0 ? "\"" : ",\"").Append(channels[i]).Append('"');
        }

        json.Append("],\"id\":").Append(id).Append('}');
        return SendAsync(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(json.ToString()), ct);
    }

    /// <summary>Sends one masked frame.</summary>
    public async Task SendAsync(WebSocketOpcode opcode, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _sendBuffer.ResetWrittenCount();
            FrameWriter.WriteMaskedFrame(_sendBuffer, opcode, payload.Span, NextMaskKey());
            ReadOnlyMemory<byte> frame = _sendBuffer.WrittenMemory;
            if (_tls is not null)
            {
                await _tls.WriteAsync(frame, ct).ConfigureAwait(false);
                return;
            }

            while (!frame.IsEmpty)
            {
                int n = await _socket.SendAsync(frame, SocketFlags.None, ct).ConfigureAwait(false);
                frame = frame[n..];
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>
    /// Appends a masked text frame to a caller-owned batch (the publisher builds one batch per tick and sends it
    /// with <see cref="SendBatchBlocking"/>). Only the publisher thread may call this.
    /// </summary>
    public void AppendMaskedText(IBufferWriter<byte> batch, ReadOnlySpan<byte> payload) =>
        FrameWriter.WriteMaskedFrame(batch, WebSocketOpcode.Text, payload, NextMaskKey());

    /// <summary>Sends already framed bytes, blocking the calling (publisher) thread while the server is not reading.</summary>
    public void SendBatchBlocking(ReadOnlySpan<byte> frames)
    {
        _sendLock.Wait();
        try
        {
            if (_tls is not null)
            {
                _tls.Write(frames);
                return;
            }

            while (!frames.IsEmpty)
            {
                int n = _socket.Send(frames, SocketFlags.None);
                frames = frames[n..];
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Stops reading (the connection becomes a slow consumer); the kernel buffers fill and the server sees backpressure.</summary>
    public void Pause() => _pauseGate ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts reading again after <see cref="Pause"/>.</summary>
    public void Resume()
    {
        TaskCompletionSource? gate = _pauseGate;
        _pauseGate = null;
        gate?.TrySetResult();
    }

    /// <summary>
    /// Polite close: a close frame (1000), then wait for the server's close frame and its end of the TCP stream,
    /// so TIME_WAIT lands on the server side as RFC 6455 intends. Paused connections are simply aborted.
    /// </summary>
    public async Task CloseAsync(CancellationToken ct = default)
    {
        if (_pauseGate is null && !_receiveLoop.IsCompleted && Interlocked.Exchange(ref _closeSent, 1) == 0)
        {
            try
            {
                byte[] payload = new byte[2];
                BinaryPrimitives.WriteUInt16BigEndian(payload, CloseCode.NormalClosure);
                await SendAsync(WebSocketOpcode.Close, payload, ct).ConfigureAwait(false);
                await _receiveLoop.WaitAsync(CloseWait, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException or ObjectDisposedException or OperationCanceledException or IOException)
            {
                // Closing anyway.
            }
        }

        Dispose();
    }

    /// <summary>
    /// Drops the connection the way a network failure or a killed client does: no close frame, and the TCP connection
    /// reset (SO_LINGER 0) rather than shut down. Nothing more is read or reported from it.
    /// </summary>
    public void Abort()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone: disposing is all that is left.
        }

        Dispose();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _closeSent, 1);
        _tls?.Dispose();
        _socket.Dispose();
        _pauseGate?.TrySetResult();
    }

    private uint NextMaskKey()
    {
        uint x = _maskState;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        _maskState = x;
        return x;
    }

    private async Task ReceiveLoopAsync()
    {
        byte[] buffer = _receive;
        int filled = _filled;
        bool first = true;
        bool closeReceived = false;
        try
        {
            while (true)
            {
                if (!first || filled == 0)
                {
                    if (_pauseGate is { } gate)
                    {
                        await gate.Task.ConfigureAwait(false);
                        if (_disposed != 0)
                        {
                            return;
                        }
                    }

                    int n = _tls is null
                        ? await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None).ConfigureAwait(false)
                        : await _tls.ReadAsync(buffer.AsMemory(filled)).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (!closeReceived && Volatile.Read(ref _closeSent) == 0)
                        {
                            Fail("closed without close frame");
                        }

                        return;
                    }

                    filled += n;
                    BytesReceived += n;
                }

                first = false;
                long now = Stopwatch.GetTimestamp();
                var data = new ReadOnlySequence<byte>(buffer, 0, filled);
                while (true)
                {
                    WebSocketReadStatus status = _reader.Read(ref data, out WebSocketMessage message);
                    if (status == WebSocketReadStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status == WebSocketReadStatus.ProtocolError)
                    {
                        Fail("protocol error: " + _reader.ErrorReason);
                        await TrySendCloseAsync(_reader.ErrorCloseCode).ConfigureAwait(false);
                        return;
                    }

                    switch (message.Type)
                    {
                        case WebSocketMessageType.Text:
                            OnText(message.Payload.Span, now);
                            break;
                        case WebSocketMessageType.Ping:
                            // Not awaited: a publisher thread blocked in a send must not stop this loop from reading.
                            _ = PongAsync(message.Payload.ToArray());
                            break;
                        case WebSocketMessageType.Close:
                            closeReceived = true;
                            if (Volatile.Read(ref _closeSent) == 0)
                            {
                                ServerCloseCode = message.CloseStatus;
                                if (message.CloseStatus == AuthRefusedCode)
                                {
                                    _auth?.AddRefused();
                                    Fail(AuthRefusedKind(message.CloseReason.Span));
                                }
                                else
                                {
                                    Fail("closed by server: " + message.CloseStatus);
                                }

                                await TrySendCloseAsync(message.CloseStatus).ConfigureAwait(false);
                            }

                            // Keep reading until the server ends the TCP stream (bounded by CloseAsync's wait).
                            break;
                        case WebSocketMessageType.Binary:
                            Fail("unexpected binary message");
                            break;
                        default:
                            break; // pong
                    }
                }

                int rest = (int)data.Length;
                if (rest > 0)
                {
                    buffer.AsSpan(filled - rest, rest).CopyTo(buffer);
                }

                filled = rest;
                if (filled == buffer.Length)
                {
                    // Cannot happen with the reader's contract (at most a 14-byte header is left), but never spin.
                    Array.Resize(ref buffer, buffer.Length * 2);
                    _receive = buffer;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            if (Volatile.Read(ref _closeSent) == 0 && !closeReceived)
            {
                Fail(ex is SocketException se ? "socket: " + se.SocketErrorCode
                    : ex is IOException { InnerException: SocketException inner } ? "socket: " + inner.SocketErrorCode
                    : "connection aborted");
            }
        }
        finally
        {
            // While opening, the waits fail with how the connection ended (a 4001 names its reason), and the open
            // counts that once; see Fail.
            string? ended;
            lock (_endLock)
            {
                ended = _endWhileOpening;
            }

            _authWaiter?.TrySetException(new HandshakeException(ended ?? "auth: connection ended", "The connection ended before the authenticated answer"));
            _ackWaiter?.TrySetException(new HandshakeException(ended ?? "subscribe: connection ended", "The connection ended before the ack"));
            _dataWaiter?.TrySetException(new HandshakeException("receive: connection ended", "The connection ended before a message"));
            _reader.Dispose();
        }
    }

    private void OnText(ReadOnlySpan<byte> json, long now)
    {
        if (_signalR)
        {
            OnSignalRText(json, now);
            return;
        }

        ServerMessageKind kind = ProtocolText.Classify(json);
        if (_authWaiter is { Task.IsCompleted: false } authWaiter && kind == ServerMessageKind.Error && ProtocolText.ReadString(json, "\"code\""u8) == "bad_request")
        {
            // The tool sends nothing else a server could call a bad request, so a bad_request before the authenticated
            // answer answers the auth message: "unknown type", a server without token auth, which would run the
            // connection unauthenticated. The open fails with that (one error), rather than measuring something else.
            authWaiter.TrySetException(new HandshakeException("auth: not understood (bad_request)", "The server answered the auth message with bad_request: it has no token auth"));
            return;
        }

        switch (kind)
        {
            case ServerMessageKind.Authenticated:
                // The expected answer to the auth message: neither data (no latency sample) nor an error.
                _auth?.AddAuthenticated();
                _authWaiter?.TrySetResult();
                break;
            case ServerMessageKind.Data:
                _sink.OnData(this, json, now);
                _dataWaiter?.TrySetResult();
                break;
            case ServerMessageKind.Subscribed:
                _streamSink?.OnSubscribed(this, json);
                _ackWaiter?.TrySetResult(!ProtocolText.HasEmptyChannelList(json));
                break;
            case ServerMessageKind.Error:
                _sink.OnServerError(this, json);
                break;
            case ServerMessageKind.Connected:
                // FastWs's greeting with the connection id: not data (no latency sample), not an error.
                break;
            default:
                _streamSink?.OnStreamText(this, kind, json, now);
                break;
        }
    }

    /// <summary>
    /// A SignalR text message: one or more records, each ending with 0x1E. The first record is the handshake's answer;
    /// then a completion acks the subscribe (or refuses it with an error), <c>message</c> invocations are data, and a
    /// close message ends the connection as a server close frame would.
    /// </summary>
    private void OnSignalRText(ReadOnlySpan<byte> text, long now)
    {
        while (!text.IsEmpty)
        {
            int end = text.IndexOf(SignalRProtocol.RecordSeparator);
            ReadOnlySpan<byte> record = end < 0 ? text : text[..end];
            text = end < 0 ? default : text[(end + 1)..];
            switch (SignalRProtocol.Classify(record, _signalRHandshakeDone))
            {
                case SignalRMessageKind.Handshake:
                    _signalRHandshakeDone = true;
                    if (SignalRProtocol.Error(record) is { } refused)
                    {
                        Fail("signalr handshake refused: " + refused);
                        _ackWaiter?.TrySetException(new HandshakeException("signalr: handshake refused", refused));
                    }

                    break;
                case SignalRMessageKind.Invocation:
                    _sink.OnData(this, record, now);
                    _dataWaiter?.TrySetResult();
                    break;
                case SignalRMessageKind.Completion:
                    if (SignalRProtocol.Error(record) is not null)
                    {
                        _sink.OnServerError(this, record);
                        _ackWaiter?.TrySetResult(false);
                    }
                    else
                    {
                        _ackWaiter?.TrySetResult(true);
                    }

                    break;
                case SignalRMessageKind.Close when Volatile.Read(ref _closeSent) == 0:
                    // SignalR answers the tool's own close frame with a close message first: only an unasked one counts.
                    Fail("closed by server: signalr close" + (SignalRProtocol.Error(record) is { } error ? ": " + error : ""));
                    break;
                default:
                    break; // pings, and nothing else the anchor sends
            }
        }
    }

    /// <summary>The close code of a refused token (FastWs's AuthCloseCode.InvalidToken).</summary>
    private const ushort AuthRefusedCode = 4001;

    /// <summary>"auth refused (4001): Invalid token: bad signature": the error kind names the server's reason.</summary>
    internal static string AuthRefusedKind(ReadOnlySpan<byte> reason)
    {
        string text = reason.IsEmpty ? "" : Encoding.UTF8.GetString(reason[..Math.Min(reason.Length, 123)]);
        text = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();
        return text.Length == 0 ? "auth refused (4001)" : "auth refused (4001): " + text;
    }

    /// <summary>
    /// An end the tool did not ask for. While the connection is still opening it is kept for the open, which fails
    /// with it and counts it once; once open (<see cref="MarkOpen"/>) it goes to the sink.
    /// </summary>
    private void Fail(string kind)
    {
        if (_disposed != 0)
        {
            return;
        }

        lock (_endLock)
        {
            if (!_open)
            {
                _endWhileOpening ??= kind;
                return;
            }
        }

        _sink.OnUnexpectedEnd(this, kind);
    }

    private async Task PongAsync(byte[] payload)
    {
        try
        {
            await SendAsync(WebSocketOpcode.Pong, payload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            // The connection is going away; the receive loop reports that.
        }
    }

    private async Task TrySendCloseAsync(ushort code)
    {
        if (Interlocked.Exchange(ref _closeSent, 1) != 0)
        {
            return;
        }

        try
        {
            byte[] payload = new byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(payload, code is CloseCode.NoStatusReceived or CloseCode.AbnormalClosure ? CloseCode.NormalClosure : code);
            await SendAsync(WebSocketOpcode.Close, payload, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            // The peer is gone already.
        }
    }
}
