using System.Buffers;
using System.IO.Compression;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.Protection;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;

namespace FastWs.Server.Tests;

/// <summary>
/// permessage-deflate (RFC 7692) against the real server: negotiation at the upgrade, compressed client messages
/// from .NET's own client, and the close codes for bombs, corrupt data and RSV1 where it does not belong. The
/// server's replies are uncompressed, which the RFC allows; compressed published messages: OutboundCompressionTests.
/// </summary>
public sealed class CompressionTests
{
    private const string DefaultAnswer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    [Fact]
    public async Task ClientWebSocket_with_deflate_negotiates_and_its_compressed_subscribe_publish_and_ping_are_understood()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());

        Assert.Equal(DefaultAnswer, ExtensionsHeader(client));
        Assert.NotNull(await client.WaitConnectedAsync());

        await client.SendAsync("""{"type":"subscribe","channels":["bench:deflate"],"id":1}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(1, ack.GetProperty("id").GetInt32());

        await client.SendAsync("""{"type":"ping","id":2}""");
        await client.ReceiveTypeAsync("pong");

        // A publish that compresses well (the price objects of a real feed do), well above the compressed size.
        string data = "[" + string.Join(",", Enumerable.Range(0, 300).Select(i => $$"""{"price":{{150 + (i % 7)}}.25,"size":1}""")) + "]";
        await client.SendAsync($$"""{"type":"publish","channel":"bench:deflate","data":{{data}}}""");
        Assert.Equal($$"""{"type":"message","channel":"bench:deflate","seq":1,"data":{{data}}}""", await client.ReceiveAsync());

        // ClientWebSocket compressed all three (each was counted before its reply went out).
        Assert.Equal(1, server.State.Metrics.DeflateConnections);
        Assert.Equal(3, server.State.Metrics.CompressedMessagesIn);
        Assert.Equal(3, server.State.Metrics.MessagesIn);
        await client.CloseAsync();
    }

    [Fact]
    public async Task With_client_context_takeover_allowed_the_client_keeps_its_context_and_is_understood()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Compression.ClientContextTakeover = true);
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());

        Assert.Equal("permessage-deflate; server_no_context_takeover", ExtensionsHeader(client));
        await client.WaitConnectedAsync();

        // The same request again and again: with the context each one after the first is a few bytes of back-references.
        for (int i = 0; i < 20; i++)
        {
            await client.SendAsync($$"""{"type":"ping","id":{{i}}}""");
            JsonElement pong = await client.ReceiveTypeAsync("pong");
            Assert.Equal(i, pong.GetProperty("id").GetInt32());
        }

        await client.CloseAsync();
    }

    [Fact]
    public async Task Window_bits_round_trip_through_ClientWebSocket()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions
        {
            ClientMaxWindowBits = 10,
            ServerMaxWindowBits = 9,
            ClientContextTakeover = false,
            ServerContextTakeover = false,
        });

        string header = ExtensionsHeader(client);
        Assert.StartsWith(DefaultAnswer, header, StringComparison.Ordinal);
        Assert.Contains("server_max_window_bits=9", header, StringComparison.Ordinal);
        await client.WaitConnectedAsync();
        await client.SendAsync("""{"type":"ping"}""");
        await client.ReceiveTypeAsync("pong");
    }

    [Fact]
    public async Task Compressed_frames_really_carry_RSV1_and_are_understood()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.WebSocketEndPoint);
        await using var network = new NetworkStream(socket, ownsSocket: false);
        string head = await HandshakeAsync(network, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        Assert.Contains("\r\nSec-WebSocket-Extensions: " + DefaultAnswer + "\r\n", head, StringComparison.Ordinal);

        // .NET's managed WebSocket (the one inside ClientWebSocket) over a stream that records the first byte of each write.
        var recording = new FirstBytesStream(network);
        using WebSocket client = WebSocket.CreateFromStream(recording, new WebSocketCreationOptions
        {
            IsServer = false,
            KeepAliveInterval = TimeSpan.Zero,
            DangerousDeflateOptions = new WebSocketDeflateOptions { ClientContextTakeover = false, ServerContextTakeover = false },
        });

        Assert.StartsWith("{\"type\":\"connected\"", await ReceiveTextAsync(client), StringComparison.Ordinal);
        await client.SendAsync(Encoding.UTF8.GetBytes("""{"type":"ping","id":"compressed"}"""), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        Assert.Contains("\"pong\"", await ReceiveTextAsync(client), StringComparison.Ordinal);

        Assert.Contains((byte)0xC1, recording.FirstBytes); // FIN + RSV1 + text
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal);
        Assert.Equal(1, server.State.Metrics.CompressedMessagesIn);
    }

    [Fact]
    public async Task A_compression_bomb_is_closed_with_1009_and_a_bystander_is_unaffected()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);
        await using RawClient client = await ConnectNegotiatedAsync(server);

        // 2 KB on the wire, 16 MB inflated; the limit is 64 KB.
        byte[] bomb = Compress(Encoding.ASCII.GetBytes("{\"type\":\"ping\",\"pad\":\"" + new string(' ', 16 * 1024 * 1024) + "\"}"));
        Assert.True(bomb.Length < 20 * 1024, $"{bomb.Length} bytes");
        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, bomb));

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.MessageTooBig, close.CloseStatus);
        Assert.Equal("Message inflates beyond the maximum size", Encoding.UTF8.GetString(close.Payload.AsSpan(2)));

        await bystander.VerifyAndCloseAsync();
    }

    [Fact]
    public async Task Corrupt_compressed_data_is_closed_with_1007()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await ConnectNegotiatedAsync(server);

        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, [0xFF, 0xFF, 0xFF, 0x00, 0x12]));

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.InvalidPayloadData, close.CloseStatus);
        Assert.Equal("Compressed message is not valid DEFLATE data", Encoding.UTF8.GetString(close.Payload.AsSpan(2)));
    }

    [Fact]
    public async Task A_bomb_split_over_fragments_is_closed_with_1009_before_it_is_inflated_whole()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);
        await using RawClient client = await ConnectNegotiatedAsync(server);

        // Each fragment is small and the message's compressed size far below the limit; only inflating shows the size.
        byte[] bomb = Compress(Encoding.ASCII.GetBytes("{\"type\":\"ping\",\"pad\":\"" + new string('a', 4 * 1024 * 1024) + "\"}"));
        int third = bomb.Length / 3;
        byte[] first = RawClient.MaskedFrame(WebSocketOpcode.Text, bomb.AsSpan(0, third), fin: false);
        first[0] |= 0x40;
        byte[] wire = [.. first,
            .. RawClient.MaskedFrame(WebSocketOpcode.Continuation, bomb.AsSpan(third, third), fin: false),
            .. RawClient.MaskedFrame(WebSocketOpcode.Continuation, bomb.AsSpan(2 * third))];
        await client.SendAsync(wire);

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.MessageTooBig, close.CloseStatus);
        await bystander.VerifyAndCloseAsync();
    }

    [Fact]
    public async Task A_compressed_message_cut_off_inside_its_data_is_closed_with_1007()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await ConnectNegotiatedAsync(server);

        // Valid DEFLATE up to where it stops: without client context takeover the server closes the stream after
        // the message, so a block left unfinished is invalid data, not a shorter message.
        byte[] whole = Compress(Encoding.ASCII.GetBytes("{\"type\":\"ping\",\"id\":1,\"pad\":\"" + string.Concat(Enumerable.Range(0, 200).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "\"}"));
        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, whole.AsSpan(0, whole.Length / 2)));

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.InvalidPayloadData, close.CloseStatus);
    }

    [Fact]
    public async Task Valid_DEFLATE_that_inflates_to_invalid_UTF8_is_closed_with_1007()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await ConnectNegotiatedAsync(server);

        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, Compress([(byte)'"', 0xC3, 0x28, (byte)'"'])));

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.InvalidPayloadData, close.CloseStatus);
    }

    [Fact]
    public async Task A_raw_client_can_send_compressed_and_plain_frames_on_one_connection()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await ConnectNegotiatedAsync(server);

        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, Compress("""{"type":"ping","id":1}"""u8)));
        await client.SendTextAsync("""{"type":"ping","id":2}""");
        // Fragmented: RSV1 on the first frame only, a ping between the fragments.
        byte[] payload = Compress("""{"type":"ping","id":3}"""u8);
        byte[] first = RawClient.MaskedFrame(WebSocketOpcode.Text, payload.AsSpan(0, 4), fin: false);
        first[0] |= 0x40;
        byte[] wire = [.. first, .. RawClient.MaskedFrame(WebSocketOpcode.Ping, "p"u8), .. RawClient.MaskedFrame(WebSocketOpcode.Continuation, payload.AsSpan(4))];
        await client.SendAsync(wire);

        Assert.Contains("\"id\":1", await client.ReadTextAsync(), StringComparison.Ordinal);
        Assert.Contains("\"id\":2", await client.ReadTextAsync(), StringComparison.Ordinal);
        Assert.Equal(WebSocketMessageType.Pong, (await client.ReadFrameAsync()).Type);
        Assert.Contains("\"id\":3", await client.ReadTextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RSV1_without_negotiation_is_closed_with_1002()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, Compress("""{"type":"ping"}"""u8)));

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.ProtocolError, close.CloseStatus);
        Assert.Equal("RSV1 set but permessage-deflate was not negotiated", Encoding.UTF8.GetString(close.Payload.AsSpan(2)));
    }

    [Theory]
    [InlineData(WebSocketOpcode.Ping, "RSV1 set on a control frame")]
    [InlineData(WebSocketOpcode.Continuation, "RSV1 set on a continuation frame")]
    public async Task RSV1_on_a_control_or_continuation_frame_is_closed_with_1002(WebSocketOpcode opcode, string reason)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await ConnectNegotiatedAsync(server);

        byte[] before = opcode == WebSocketOpcode.Continuation ? RawClient.MaskedFrame(WebSocketOpcode.Text, "{"u8, fin: false) : [];
        byte[] wire = [.. before, .. CompressedFrame(opcode, [])];
        await client.SendAsync(wire);

        RawFrame close = await ReadCloseAsync(client);
        Assert.Equal(CloseCode.ProtocolError, close.CloseStatus);
        Assert.Equal(reason, Encoding.UTF8.GetString(close.Payload.AsSpan(2)));
    }

    [Fact]
    public async Task With_compression_switched_off_offers_get_no_answer_and_RSV1_is_a_protocol_error()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Compression.Enabled = false);
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string key = RawClient.NewKey();
        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", key, extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        Assert.Null(response.Header("Sec-WebSocket-Extensions"));

        await client.SendAsync(CompressedFrame(WebSocketOpcode.Text, Compress("""{"type":"ping"}"""u8)));
        Assert.Equal(CloseCode.ProtocolError, (await ReadCloseAsync(client)).CloseStatus);

        // And ClientWebSocket, which asked for deflate, simply goes on without it.
        await using TestClient plain = await TestClient.ConnectAsync(server.WebSocketUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());
        Assert.False(plain.Socket.HttpResponseHeaders?.ContainsKey("Sec-WebSocket-Extensions") ?? false);
        await plain.WaitConnectedAsync();
        await plain.SendAsync("""{"type":"ping"}""");
        await plain.ReceiveTypeAsync("pong");
        Assert.Equal(0, server.State.Metrics.DeflateConnections);
        Assert.Equal(0, server.State.Metrics.CompressedMessagesIn);
    }

    [Theory]
    [InlineData("permessage-deflate; client_max_window_bits, x-webkit-deflate-frame", DefaultAnswer)]
    [InlineData("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10", DefaultAnswer + "; server_max_window_bits=10")]
    [InlineData("permessage-deflate; server_max_window_bits=16", null)]
    [InlineData("x-webkit-deflate-frame", null)]
    public async Task Negotiation_headers_round_trip(string offer, string? answer)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string key = RawClient.NewKey();
        // Split over two header lines, as a proxy may send it: the server reads them as one list.
        int comma = offer.IndexOf(',', StringComparison.Ordinal);
        string headers = comma < 0
            ? $"Sec-WebSocket-Extensions: {offer}\r\n"
            : $"Sec-WebSocket-Extensions: {offer[..comma]}\r\nSec-WebSocket-Extensions: {offer[(comma + 1)..].Trim()}\r\n";
        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", key, extraHeaders: headers));

        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        Assert.Equal(answer, response.Header("Sec-WebSocket-Extensions"));
        await client.SendTextAsync("{\"type\":\"ping\"}");
        Assert.Contains("\"pong\"", await client.ReadTextAsync(), StringComparison.Ordinal);
        Assert.NotNull(client.ConnectedMessage);
    }

    private static string ExtensionsHeader(TestClient client)
    {
        Assert.NotNull(client.Socket.HttpResponseHeaders);
        Assert.True(client.Socket.HttpResponseHeaders.TryGetValue("Sec-WebSocket-Extensions", out IEnumerable<string>? values), "no Sec-WebSocket-Extensions in the 101");
        return Assert.Single(values);
    }

    private static async Task<RawClient> ConnectNegotiatedAsync(TestServer server)
    {
        RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string key = RawClient.NewKey();
        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", key, extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        Assert.Equal(DefaultAnswer, response.Header("Sec-WebSocket-Extensions"));
        return client;
    }

    /// <summary>A masked frame with RSV1 set.</summary>
    private static byte[] CompressedFrame(WebSocketOpcode opcode, ReadOnlySpan<byte> payload)
    {
        byte[] frame = RawClient.MaskedFrame(opcode, payload);
        frame[0] |= 0x40;
        return frame;
    }

    /// <summary>One message as an RFC 7692 sender compresses it: sync-flushed, the 0x00 0x00 0xff 0xff tail removed.</summary>
    private static byte[] Compress(ReadOnlySpan<byte> data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
            deflate.Flush();
        }

        byte[] bytes = output.ToArray();
        int tail = bytes.AsSpan().LastIndexOf(new byte[] { 0x00, 0x00, 0xFF, 0xFF });
        return bytes[..tail]; // also drops the final empty block that disposing the compressor added after the flush
    }

    /// <summary>Frames up to the server's close frame (the connected message and anything else before it are skipped).</summary>
    private static async Task<RawFrame> ReadCloseAsync(RawClient client)
    {
        while (true)
        {
            RawFrame frame = await client.ReadFrameAsync();
            if (frame.Type == WebSocketMessageType.Close)
            {
                return frame;
            }
        }
    }

    private static async Task<string> HandshakeAsync(NetworkStream stream, string extraHeaders)
    {
        string request = RawClient.UpgradeRequest(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1), "/ws", RawClient.NewKey(), extraHeaders: extraHeaders);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        // Byte by byte up to the blank line, so nothing after the head is taken from the managed WebSocket.
        var head = new StringBuilder();
        byte[] one = new byte[1];
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.Equal(1, await stream.ReadAsync(one, timeout.Token));
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 101 ", head.ToString(), StringComparison.Ordinal);
        return head.ToString();
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        var buffer = new ArrayBufferWriter<byte>();
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.GetMemory(4096), timeout.Token);
            buffer.Advance(result.Count);
        }
        while (!result.EndOfMessage);

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Passes everything through and keeps the first byte of every write (a frame's first header byte).</summary>
    private sealed class FirstBytesStream(Stream inner) : Stream
    {
        public List<byte> FirstBytes { get; } = [];

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!buffer.IsEmpty)
            {
                lock (FirstBytes)
                {
                    FirstBytes.Add(buffer.Span[0]);
                }
            }

            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
