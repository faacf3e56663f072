using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;
using FastWs.Server.Auth;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Hosting;

/// <summary>
/// Serves one real WebSocket connection over loopback as soon as the server listens, before <c>/readyz</c> says
/// ready: the upgrade, an application ping, a subscribe, a publish to that channel and its delivery back, an
/// unsubscribe, a ping frame and the close handshake.
/// </summary>
/// <remarks>
/// <para>
/// A fresh .NET process compiles each method the first time it runs, and the first handshake's SHA-1 loads
/// OpenSSL's libcrypto (3.4 MiB). On the test machine that made the first client's upgrade about 60 ms slower
/// than the second one's. After a restart the first client is the head of a reconnect storm, and every
/// handshake queued behind it waits too, so the server pays that cost itself before a load balancer (which
/// waits for <c>/readyz</c>) sends it anyone. The first publish after start paid the same kind of cost for the
/// fan-out path: 100 subscribers started receiving with a p99 of 14 ms and a maximum of 23 ms in their first
/// second, against 0.6 ms once warm, so the warm-up also publishes one message to its own channel.
/// </para>
/// <para>
/// It is an ordinary connection from the server's own loopback address, through the same listener, limits and
/// counters as any other (the stats show one connection opened and closed at startup). A warm-up that fails
/// (a full connection limit, say) is logged as a warning and the server reports ready anyway: it serves
/// clients just the same, only the first one waits longer.
/// </para>
/// <para>
/// When the WebSocket endpoint has TLS the warm-up speaks TLS as well (trusting only the certificate the server
/// loaded), so the server's first TLS handshake is served before any client's too.
/// </para>
/// </remarks>
internal sealed class StartupWarmUp
{
    /// <summary>The whole exchange takes milliseconds; this only bounds a warm-up against a wedged endpoint.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>The key of the warm-up's channel in the namespace it uses.</summary>
    internal const string ChannelKey = "warm-up";

    /// <summary>Replies the warm-up reads past (a demo feed's data, say) before it gives up on the one it waits for.</summary>
    private const int MaxSkippedMessages = 1000;

    private readonly ServerState _state;
    private readonly ILogger _logger;
    private readonly CertificateSource? _tls;

    /// <param name="tls">The WebSocket endpoint's certificate when it has TLS: the warm-up then speaks TLS too.</param>
    public StartupWarmUp(ServerState state, ILogger logger, CertificateSource? tls = null)
    {
        _state = state;
        _logger = logger;
        _tls = tls;
    }

    /// <summary>Runs the warm-up connection against <paramref name="endpoint"/> and then marks the server warm, whatever happened.</summary>
    public async Task RunAsync(IPEndPoint endpoint, CancellationToken stopping)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(Timeout);
            await ExchangeAsync(LoopbackFor(endpoint), timeout.Token).ConfigureAwait(false);
            if (_state.Auth.IsEnabled)
            {
                long before = watch.ElapsedMilliseconds;
                (int tried, int accepted) = _state.Auth.WarmUp();
                ServerLog.TokenChecksWarmedUp(_logger, watch.ElapsedMilliseconds - before, accepted, tried);
            }

            ServerLog.WarmUpServed(_logger, watch.ElapsedMilliseconds);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (!stopping.IsCancellationRequested)
            {
                ServerLog.WarmUpFailed(_logger, watch.ElapsedMilliseconds, ex.Message);
            }
        }
        finally
        {
            _state.MarkWarm();
        }
    }

    /// <summary>A wildcard bind (0.0.0.0, ::) is reached over the loopback address of its family.</summary>
    internal static IPEndPoint LoopbackFor(IPEndPoint endpoint)
    {
        if (endpoint.Address.Equals(IPAddress.Any))
        {
            return new IPEndPoint(IPAddress.Loopback, endpoint.Port);
        }

        return endpoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, endpoint.Port) : endpoint;
    }

    private async Task ExchangeAsync(IPEndPoint target, CancellationToken cancellationToken)
    {
        using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(target, cancellationToken).ConfigureAwait(false);
        await using var network = new NetworkStream(socket, ownsSocket: false);
        await using Stream stream = _tls is null ? network : await HandshakeAsync(network, _tls, cancellationToken).ConfigureAwait(false);
        PipeReader input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        using var reader = new WebSocketReader(WebSocketReaderOptions.ClientDefault);

        // Not cryptographic on purpose: masks and keys guard against hostile intermediaries, and a loopback
        // connection to ourselves has none, while OpenSSL's random generator would cost 2 MB of native heap.
        var keyBytes = new byte[16];
        Random.Shared.NextBytes(keyBytes);
        string key = Convert.ToBase64String(keyBytes);
        string request = $"GET {_state.Options.Path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: FastWs-warm-up\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cancellationToken).ConfigureAwait(false);
        await ExpectUpgradeAsync(input, HandshakeResponse.ComputeAcceptKey(key), cancellationToken).ConfigureAwait(false);
        await ExpectAsync(input, reader, WebSocketMessageType.Text, "connected", cancellationToken).ConfigureAwait(false);

        await SendAsync(stream, WebSocketOpcode.Text, """{"type":"ping"}""", cancellationToken).ConfigureAwait(false);
        await ExpectAsync(input, reader, WebSocketMessageType.Text, "pong", cancellationToken).ConfigureAwait(false);
        if (WarmUpChannel(IPAddress.IsLoopback(target.Address)) is ({ } channel, bool mayPublish))
        {
            await SendAsync(stream, WebSocketOpcode.Text, $$"""{"type":"subscribe","channels":["{{channel}}"],"id":1}""", cancellationToken).ConfigureAwait(false);
            await ExpectAsync(input, reader, WebSocketMessageType.Text, "subscribed", cancellationToken).ConfigureAwait(false);
            if (mayPublish)
            {
                // Delivered back to this connection through the whole fan-out path (its "published" ack is read
                // past by the next wait).
                await SendAsync(stream, WebSocketOpcode.Text, $$"""{"type":"publish","channel":"{{channel}}","data":{"warmUp":true},"id":3}""", cancellationToken).ConfigureAwait(false);
                await ExpectAsync(input, reader, WebSocketMessageType.Text, "message", cancellationToken).ConfigureAwait(false);
            }

            await SendAsync(stream, WebSocketOpcode.Text, $$"""{"type":"unsubscribe","channels":["{{channel}}"],"id":2}""", cancellationToken).ConfigureAwait(false);
            await ExpectAsync(input, reader, WebSocketMessageType.Text, "unsubscribed", cancellationToken).ConfigureAwait(false);
        }

        await SendAsync(stream, WebSocketOpcode.Ping, "warm-up", cancellationToken).ConfigureAwait(false);
        await ExpectAsync(input, reader, WebSocketMessageType.Pong, null, cancellationToken).ConfigureAwait(false);

        var close = new ArrayBufferWriter<byte>(32);
        FrameWriter.WriteMaskedFrame(close, WebSocketOpcode.Close, CloseFrame(CloseCode.NormalClosure), MaskKey());
        await stream.WriteAsync(close.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await ExpectAsync(input, reader, WebSocketMessageType.Close, null, cancellationToken).ConfigureAwait(false);

        // The close handshake ends when the server closes TCP (RFC 6455 7.1.1): wait for that, not just its frame.
        while (true)
        {
            ReadResult rest = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            input.AdvanceTo(rest.Buffer.End);
            if (rest.IsCompleted)
            {
                break;
            }
        }

        await input.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The warm-up's own channel, <c>namespace:warm-up</c>, and whether the warm-up may publish to it: in the first
    /// namespace (in name order) where it may subscribe and publish, else the first where it may subscribe; null if
    /// none. A server bound to one of its own non-loopback addresses is reached from that address, which
    /// loopback-only policies refuse. A key of its own keeps the warm-up's message away from real channels.
    /// </summary>
    internal (string Channel, bool MayPublish)? WarmUpChannel(bool fromLoopback)
    {
        if (_state.Options.Auth.Required)
        {
            return null; // the warm-up has no token: with tokens required it only upgrades and closes
        }

        string? subscribeOnly = null;
        var caller = new Caller(fromLoopback, null);
        foreach (string name in _state.Namespaces.Names.Order(StringComparer.Ordinal))
        {
            if (!_state.Namespaces.TryGet(name, out NamespaceOptions settings) || !settings.Subscribe.Allows(caller, ChannelKey)
                || settings.KeyRegex?.IsMatch(ChannelKey) == false)
            {
                continue;
            }

            if (settings.Publish.Allows(caller, ChannelKey))
            {
                return (name + ":" + ChannelKey, true);
            }

            subscribeOnly ??= name + ":" + ChannelKey;
        }

        return subscribeOnly is null ? null : (subscribeOnly, false);
    }

    private static byte[] CloseFrame(ushort code)
    {
        var payload = new byte[2 + 16];
        int length = FrameWriter.EncodeClosePayload(payload, code, "warm-up done");
        return payload[..length];
    }

    private static uint MaskKey() => (uint)Random.Shared.Next();

    private static async Task SendAsync(Stream stream, WebSocketOpcode opcode, string payload, CancellationToken cancellationToken)
    {
        var frame = new ArrayBufferWriter<byte>(64);
        FrameWriter.WriteMaskedFrame(frame, opcode, Encoding.UTF8.GetBytes(payload), MaskKey());
        await stream.WriteAsync(frame.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The client side of a TLS handshake with our own endpoint: the only certificate accepted is the one the
    /// server presents from its own files (whoever signed it, whatever names it carries: the warm-up dials an
    /// address, not a name). It also serves the server's first TLS handshake before any client has to wait for it.
    /// </summary>
    private static async Task<SslStream> HandshakeAsync(Stream network, CertificateSource tls, CancellationToken cancellationToken)
    {
        byte[] expected = tls.Certificate.RawData;
        var ssl = new SslStream(network, leaveInnerStreamOpen: true);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(expected),
            }, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Reads the response head and fails unless it is a 101 carrying the accept value for our key.</summary>
    private static async Task ExpectUpgradeAsync(PipeReader input, string accept, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            var head = new SequenceReader<byte>(buffer);
            if (head.TryReadTo(out ReadOnlySequence<byte> headBytes, "\r\n\r\n"u8))
            {
                string text = Encoding.ASCII.GetString(headBytes);
                input.AdvanceTo(head.Position);
                if (!text.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"the upgrade was answered \"{text.Split('\r')[0]}\"");
                }

                if (!text.Contains($"Sec-WebSocket-Accept: {accept}", StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidOperationException("the 101 carried a wrong Sec-WebSocket-Accept");
                }

                return;
            }

            if (result.IsCompleted)
            {
                throw new InvalidOperationException("the server closed the connection during the upgrade");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Reads messages until one of <paramref name="type"/> arrives (for text, a reply whose "type" is
    /// <paramref name="replyType"/>). An error reply, a close instead, or too many other messages fail the warm-up.
    /// </summary>
    private static async Task ExpectAsync(PipeReader input, WebSocketReader reader, WebSocketMessageType type, string? replyType, CancellationToken cancellationToken)
    {
        string wantedReply = $"\"type\":\"{replyType}\"";
        for (int skipped = 0; skipped < MaxSkippedMessages;)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            try
            {
                while (true)
                {
                    WebSocketReadStatus status = reader.Read(ref buffer, out WebSocketMessage message);
                    if (status == WebSocketReadStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status == WebSocketReadStatus.ProtocolError)
                    {
                        throw new InvalidOperationException($"the server sent a bad frame ({reader.ErrorReason})");
                    }

                    string text = message.Type is WebSocketMessageType.Text ? Encoding.UTF8.GetString(message.Payload.Span) : string.Empty;
                    if (message.Type == type && (type != WebSocketMessageType.Text || text.Contains(wantedReply, StringComparison.Ordinal)))
                    {
                        return;
                    }

                    if (message.Type == WebSocketMessageType.Close || text.Contains("\"type\":\"error\"", StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException($"waiting for {replyType ?? type.ToString()}, the server sent {(text.Length > 0 ? text : "a close frame")}");
                    }

                    skipped++;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (result.IsCompleted)
            {
                throw new InvalidOperationException($"the server closed the connection while the warm-up waited for {replyType ?? type.ToString()}");
            }
        }

        throw new InvalidOperationException($"no {replyType ?? type.ToString()} among {MaxSkippedMessages} messages");
    }
}
