using System.Buffers.Binary;
using System.IO.Compression;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// Outbound permessage-deflate: each published message compressed once, with RSV1, for the subscribers that
/// negotiated it; plain frames for the others and for messages under the namespace's threshold.
/// </summary>
public sealed class OutboundCompressionTests
{
    private const string Channel = "bench:deflate";

    /// <summary>A 1 KB JSON price object like a real feed's: repeated keys, similar numbers.</summary>
    private static readonly string PriceObject = "{\"slab\":\"SOL\",\"levels\":[" + string.Join(",", Enumerable.Range(0, 23).Select(i =>
        $$"""{"price":{{150 + (i % 7)}}.{{i:D2}},"size":{{1 + (i % 3)}}.5,"side":"{{(i % 2 == 0 ? "bid" : "ask")}}"}""")) + "]}";

    private const string SmallObject = """{"price":151.25}""";

    private static string Envelope(long seq, string data) => $$"""{"type":"message","channel":"{{Channel}}","seq":{{seq}},"data":{{data}}}""";

    [Fact]
    public async Task A_deflate_raw_client_gets_RSV1_frames_that_inflate_to_the_message_and_a_plain_client_on_the_channel_gets_plain_frames()
    {
        Assert.InRange(PriceObject.Length, 900, 1200);
        await using TestServer server = await TestServer.StartAsync();
        await using RawWebSocket deflate = await RawWebSocket.ConnectAsync(server, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        await using RawWebSocket plain = await RawWebSocket.ConnectAsync(server, "");
        Assert.Contains("permessage-deflate", deflate.Head, StringComparison.Ordinal);
        Assert.DoesNotContain("permessage-deflate", plain.Head, StringComparison.Ordinal);
        await deflate.SubscribeAsync(Channel);
        await plain.SubscribeAsync(Channel);

        await server.Server.Publisher.PublishAsync(Channel, PriceObject);
        await server.Server.Publisher.PublishAsync(Channel, SmallObject);

        // The deflate client: the big message compressed (FIN + RSV1 + text) and much smaller, the small one plain.
        (byte first, byte[] payload) = await deflate.ReadFrameAsync();
        Assert.Equal(0xC1, first);
        Assert.True(payload.Length < PriceObject.Length / 2, $"compressed to {payload.Length} bytes");
        Assert.Equal(Envelope(1, PriceObject), Inflate(payload));
        (first, payload) = await deflate.ReadFrameAsync();
        Assert.Equal(0x81, first);
        Assert.Equal(Envelope(2, SmallObject), Encoding.UTF8.GetString(payload));

        // The plain client: both as plain text frames.
        (first, payload) = await plain.ReadFrameAsync();
        Assert.Equal(0x81, first);
        Assert.Equal(Envelope(1, PriceObject), Encoding.UTF8.GetString(payload));
        (first, payload) = await plain.ReadFrameAsync();
        Assert.Equal(0x81, first);
        Assert.Equal(Envelope(2, SmallObject), Encoding.UTF8.GetString(payload));
    }

    [Fact]
    public async Task ClientWebSocket_with_deflate_and_a_plain_ClientWebSocket_on_one_channel_both_get_every_message()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient deflate = await TestClient.ConnectAsync(server.WebSocketUri, o => o.DangerousDeflateOptions = new WebSocketDeflateOptions());
        await using TestClient plain = await TestClient.ConnectAsync(server.WebSocketUri);
        foreach (TestClient client in new[] { deflate, plain })
        {
            await client.WaitConnectedAsync();
            await client.SendAsync($$"""{"type":"subscribe","channels":["{{Channel}}"],"id":1}""");
            await client.ReceiveTypeAsync("subscribed");
        }

        string[] messages = [PriceObject, SmallObject, PriceObject.Replace("SOL", "ETH", StringComparison.Ordinal), "\"" + new string('x', 5000) + "\""];
        foreach (string message in messages)
        {
            await server.Server.Publisher.PublishAsync(Channel, message);
        }

        for (int i = 0; i < messages.Length; i++)
        {
            Assert.Equal(Envelope(i + 1, messages[i]), await deflate.ReceiveAsync());
            Assert.Equal(Envelope(i + 1, messages[i]), await plain.ReceiveAsync());
        }

        await deflate.CloseAsync();
        await plain.CloseAsync();
    }

    [Fact]
    public async Task With_the_namespace_switch_off_or_a_high_threshold_messages_go_uncompressed()
    {
        foreach (Action<NamespaceOptions> configure in new Action<NamespaceOptions>[] { ns => ns.Compression = false, ns => ns.CompressionThreshold = 4096 })
        {
            await using TestServer server = await TestServer.StartAsync(o => configure(o.Namespaces["bench"]));
            await using RawWebSocket deflate = await RawWebSocket.ConnectAsync(server, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
            Assert.Contains("permessage-deflate", deflate.Head, StringComparison.Ordinal);
            await deflate.SubscribeAsync(Channel);
            await server.Server.Publisher.PublishAsync(Channel, PriceObject);
            (byte first, byte[] payload) = await deflate.ReadFrameAsync();
            Assert.Equal(0x81, first);
            Assert.Equal(Envelope(1, PriceObject), Encoding.UTF8.GetString(payload));
        }
    }

    [Fact]
    public async Task A_client_with_a_small_server_window_gets_compressed_only_what_fits_its_window()
    {
        await using TestServer server = await TestServer.StartAsync();
        // 2^9 = 512 bytes: the 1 KB price message cannot be compressed for it (zlib's window is 15 bits), a 300-byte one can.
        await using RawWebSocket small = await RawWebSocket.ConnectAsync(server, "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n");
        await using RawWebSocket full = await RawWebSocket.ConnectAsync(server, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        Assert.Contains("server_max_window_bits=9", small.Head, StringComparison.Ordinal);
        await small.SubscribeAsync(Channel);
        await full.SubscribeAsync(Channel);

        string medium = PriceObject[..PriceObject.IndexOf("},{", 250, StringComparison.Ordinal)] + "}]}";
        await server.Server.Publisher.PublishAsync(Channel, PriceObject);
        await server.Server.Publisher.PublishAsync(Channel, medium);

        (byte first, byte[] payload) = await small.ReadFrameAsync();
        Assert.Equal(0x81, first);
        Assert.Equal(Envelope(1, PriceObject), Encoding.UTF8.GetString(payload));
        (first, payload) = await small.ReadFrameAsync();
        Assert.Equal(0xC1, first);
        Assert.Equal(Envelope(2, medium), Inflate(payload));

        (first, payload) = await full.ReadFrameAsync();
        Assert.Equal(0xC1, first);
        Assert.Equal(Envelope(1, PriceObject), Inflate(payload));
        (first, payload) = await full.ReadFrameAsync();
        Assert.Equal(0xC1, first);
        Assert.Equal(Envelope(2, medium), Inflate(payload));
    }

    [Fact]
    public void A_run_s_deflate_variant_starts_part_way_at_the_right_frame()
    {
        var channel = new Channel(Channel, new NamespaceOptions(), 0);
        using var encoder = new DataFrameEncoder();
        encoder.Clear(NamespaceOptions.DefaultCompressionThreshold);
        string[] messages = [SmallObject, PriceObject, SmallObject, PriceObject];
        for (int i = 0; i < messages.Length; i++)
        {
            encoder.Append(channel, 10 + i, Encoding.UTF8.GetBytes(messages[i]));
        }

        FrameRun run = encoder.Run;
        Assert.Equal(4, run.DeflatedEnds.Length);
        for (long from = 10; from <= 13; from++)
        {
            ReadOnlySpan<byte> frames = run.From(from, deflated: true);
            for (long seq = from; seq <= 13; seq++)
            {
                int length = frames[1] & 0x7F;
                int header = 2;
                if (length == 126)
                {
                    length = BinaryPrimitives.ReadUInt16BigEndian(frames[2..]);
                    header = 4;
                }

                byte[] payload = frames.Slice(header, length).ToArray();
                bool compressed = messages[seq - 10] == PriceObject;
                Assert.Equal(compressed ? 0xC1 : 0x81, frames[0]);
                Assert.Equal(Envelope(seq, messages[seq - 10]), compressed ? Inflate(payload) : Encoding.UTF8.GetString(payload));
                frames = frames[(header + length)..];
            }

            Assert.True(frames.IsEmpty);
        }
    }

    /// <summary>RFC 7692 section 7.2.2: append 00 00 ff ff and inflate.</summary>
    private static string Inflate(byte[] payload)
    {
        using var input = new MemoryStream([.. payload, 0x00, 0x00, 0xff, 0xff]);
        using var inflate = new DeflateStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        inflate.CopyTo(output);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>A client that reads the server's frames byte for byte, so RSV1 is seen as sent.</summary>
    private sealed class RawWebSocket : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;

        private RawWebSocket(Socket socket, string head)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            Head = head;
        }

        public string Head { get; private set; }

        public static async Task<RawWebSocket> ConnectAsync(TestServer server, string extraHeaders)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.WebSocketEndPoint);
            var client = new RawWebSocket(socket, "");
            string request = RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: extraHeaders);
            await client._stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            var head = new StringBuilder();
            byte[] one = new byte[1];
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                Assert.Equal(1, await client._stream.ReadAsync(one, timeout.Token));
                head.Append((char)one[0]);
            }

            Assert.StartsWith("HTTP/1.1 101 ", head.ToString(), StringComparison.Ordinal);
            client.Head = head.ToString();
            (byte _, byte[] connected) = await client.ReadFrameAsync();
            Assert.StartsWith("{\"type\":\"connected\"", Encoding.UTF8.GetString(connected), StringComparison.Ordinal);
            return client;
        }

        public async Task SubscribeAsync(string channel)
        {
            await _stream.WriteAsync(RawClient.MaskedText($$"""{"type":"subscribe","channels":["{{channel}}"],"id":1}"""));
            (byte _, byte[] ack) = await ReadFrameAsync();
            Assert.Contains("\"subscribed\"", Encoding.UTF8.GetString(ack), StringComparison.Ordinal);
        }

        /// <summary>One unmasked server frame: its first header byte (FIN, RSV1-3, opcode) and its payload.</summary>
        public async Task<(byte First, byte[] Payload)> ReadFrameAsync()
        {
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            byte[] header = new byte[2];
            await _stream.ReadExactlyAsync(header, timeout.Token);
            long length = header[1] & 0x7F;
            if (length >= 126)
            {
                byte[] extended = new byte[length == 126 ? 2 : 8];
                await _stream.ReadExactlyAsync(extended, timeout.Token);
                length = extended.Length == 2 ? BinaryPrimitives.ReadUInt16BigEndian(extended) : (long)BinaryPrimitives.ReadUInt64BigEndian(extended);
            }

            byte[] payload = new byte[length];
            await _stream.ReadExactlyAsync(payload, timeout.Token);
            return (header[0], payload);
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.DisposeAsync();
            _socket.Dispose();
        }
    }
}
