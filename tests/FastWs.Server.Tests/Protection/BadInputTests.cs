using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// What hostile or broken clients send: garbage instead of a handshake, a handshake cut off, oversized headers,
/// every kind of protocol violation, a flood of requests. After each, a bystander subscribed throughout still has
/// every message, the metrics count what happened, and no state is left behind.
/// (Oversized messages, 1009, are in <see cref="CloseTests"/>.)
/// </summary>
public sealed class BadInputTests
{
    [Fact]
    public async Task Random_bytes_instead_of_a_handshake_get_an_HTTP_error_or_a_closed_connection()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(1));
        await using Bystander bystander = await Bystander.StartAsync(server);

        var blobs = new List<byte[]>();
        for (int seed = 1; seed <= 12; seed++)
        {
            var random = new Random(seed);
            byte[] blob = new byte[random.Next(1, seed % 3 == 0 ? 16_000 : 600)];
            random.NextBytes(blob);
            blobs.Add(blob);
        }

        // Plus garbage that looks almost right: a TLS ClientHello (wss:// to a ws:// port), the HTTP/2 preface,
        // a request with no headers, header-ish noise, and NULs.
        blobs.Add([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03, .. new byte[64]]);
        blobs.Add("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        blobs.Add("GET /ws HTTP/1.1\r\n\r\n"u8.ToArray());
        blobs.Add("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade websocket\r\n\r\n"u8.ToArray());
        blobs.Add(new byte[100]);

        int responses = 0;
        await Parallel.ForEachAsync(blobs, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (blob, _) =>
        {
            await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
            try
            {
                await client.SendAsync(blob);
            }
            catch (IOException)
            {
                // The server may already have answered and closed.
            }

            byte[] answer = await ProtectionKit.ReadUntilClosedAsync(client.Socket, TimeSpan.FromSeconds(5));
            if (answer.Length > 0)
            {
                string text = Encoding.ASCII.GetString(answer);
                Assert.Matches("^HTTP/1.1 4[0-9][0-9] ", text);
                Interlocked.Increment(ref responses);
            }
        });

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailuresTotal == blobs.Count, () => $"{blobs.Count} handshake failures to be counted (have {server.State.Metrics.HandshakeFailuresTotal})");
        string reasons = string.Join(", ", Enum.GetValues<HandshakeFailure>()
            .Where(r => server.State.Metrics.HandshakeFailureCount(r) > 0)
            .Select(r => $"{HandshakeFailures.Name(r)}: {server.State.Metrics.HandshakeFailureCount(r)}"));
        TestContext.Current.TestOutputHelper?.WriteLine($"{responses} of {blobs.Count} got an HTTP error; failures by reason: {reasons}");
        Assert.True(responses > blobs.Count / 2, $"Only {responses} of {blobs.Count} got an HTTP error; the rest were dropped without one ({reasons})");

        // Every one counted under a reason that says what was wrong: none left ("disconnected") before the server decided.
        Assert.Equal(0, server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Disconnected));
        Assert.True(server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Malformed) > 0, reasons);
        Assert.Equal(1, server.State.Metrics.HandshakeFailureCount(HandshakeFailure.MissingHost)); // "GET /ws HTTP/1.1" and nothing else
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal); // the bystander
        Assert.Equal(0, server.State.PendingHandshakes.Count);

        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Handshake_cut_off_halfway_and_the_socket_closed_is_counted_and_forgotten(bool reset)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);
        string request = RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey());

        for (int i = 0; i < 5; i++)
        {
            RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
            if (reset)
            {
                ProtectionKit.ResetOnClose(client.Socket);
            }

            await client.SendAsync(request[..(request.Length * (i + 1) / 6)]);
            await TestServer.WaitUntilAsync(() => server.State.PendingHandshakes.Count == 1, "the upgrade to be pending");
            await client.DisposeAsync();
            await TestServer.WaitUntilAsync(() => server.State.PendingHandshakes.Count == 0, "the upgrade to be forgotten");
        }

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailuresTotal == 5, "five failures to be counted (just after they are forgotten)");
        Assert.Equal(5, server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Disconnected));
        Assert.Equal(5, server.State.Metrics.HandshakeFailuresTotal);
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal);
        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Oversized_headers_get_431_at_the_default_limit_even_when_the_head_never_ends()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);
        Assert.Equal(8 * 1024, server.State.Options.MaxHandshakeHeaderBytes);

        // A complete request with 10 KB of headers.
        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            string padding = string.Concat(Enumerable.Range(0, 100).Select(i => $"X-Pad-{i}: {new string('a', 100)}\r\n"));
            await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: padding));
            Assert.Equal(431, (await client.ReadHttpResponseAsync()).StatusCode);
            Assert.Equal(0, await client.ReadToEndAsync(TimeSpan.FromSeconds(5)));
        }

        // Headers that keep coming and never end: refused once past the limit, not after the handshake timeout (5 s).
        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            await client.SendAsync($"GET /ws HTTP/1.1\r\nHost: x\r\n");
            for (int i = 0; i < 10; i++)
            {
                await client.SendAsync($"X-More-{i}: {new string('b', 1000)}\r\n");
            }

            Assert.Equal(431, (await client.ReadHttpResponseAsync()).StatusCode);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"431 only after {watch.ElapsedMilliseconds} ms");
        }

        // One enormous header line.
        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await client.SendAsync($"GET /ws HTTP/1.1\r\nHost: x\r\nCookie: {new string('c', 20_000)}");
            Assert.Equal(431, (await client.ReadHttpResponseAsync()).StatusCode);
        }

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailureCount(HandshakeFailure.HeadersTooLarge) == 3, "three headers_too_large failures");
        Assert.Equal(3, server.State.Metrics.HandshakeFailuresTotal);
        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    public static TheoryData<string, byte[], ushort> Violations()
    {
        byte[] text = Encoding.UTF8.GetBytes("""{"type":"ping"}""");
        byte[] longLength = [0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]; // 64-bit length with the top bit set
        return new TheoryData<string, byte[], ushort>
        {
            { "unmasked frame", ProtectionKit.Frame(0x81, text, masked: false), CloseCode.ProtocolError },
            { "RSV1 without an extension", ProtectionKit.Frame(0xC1, text), CloseCode.ProtocolError },
            { "RSV2", ProtectionKit.Frame(0xA1, text), CloseCode.ProtocolError },
            { "RSV3", ProtectionKit.Frame(0x91, text), CloseCode.ProtocolError },
            { "reserved data opcode 0x3", ProtectionKit.Frame(0x83, text), CloseCode.ProtocolError },
            { "reserved control opcode 0xB", ProtectionKit.Frame(0x8B, text), CloseCode.ProtocolError },
            { "fragmented ping", ProtectionKit.Frame(0x09, "x"u8), CloseCode.ProtocolError },
            { "ping over 125 bytes", ProtectionKit.Frame(0x89, new byte[126]), CloseCode.ProtocolError },
            { "close over 125 bytes", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(1000, new byte[124])), CloseCode.ProtocolError },
            { "continuation without a start", ProtectionKit.Frame(0x80, text), CloseCode.ProtocolError },
            { "new text frame inside a fragmented message", [.. ProtectionKit.Frame(0x01, "{\"ty"u8), .. ProtectionKit.Frame(0x81, text)], CloseCode.ProtocolError },
            { "64-bit length with the top bit set", longLength, CloseCode.ProtocolError },
            { "close with a 1-byte payload", ProtectionKit.Frame(0x88, [0x03]), CloseCode.ProtocolError },
            { "close code 1005 on the wire", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(1005)), CloseCode.ProtocolError },
            { "close code 1006 on the wire", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(1006)), CloseCode.ProtocolError },
            { "close code 999", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(999)), CloseCode.ProtocolError },
            { "close code 1016 (unassigned)", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(1016)), CloseCode.ProtocolError },
            { "close code 5000", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(5000)), CloseCode.ProtocolError },
            { "invalid UTF-8 in a text message", ProtectionKit.Frame(0x81, [0x7B, 0xC3, 0x28, 0x7D]), CloseCode.InvalidPayloadData },
            { "overlong UTF-8", ProtectionKit.Frame(0x81, [0x22, 0xC0, 0xAF, 0x22]), CloseCode.InvalidPayloadData },
            { "UTF-16 surrogate in UTF-8", ProtectionKit.Frame(0x81, [0x22, 0xED, 0xA0, 0x80, 0x22]), CloseCode.InvalidPayloadData },
            { "text ending inside a UTF-8 sequence", ProtectionKit.Frame(0x81, [0x22, 0xE2, 0x82]), CloseCode.InvalidPayloadData },
            { "invalid UTF-8 split across fragments", [.. ProtectionKit.Frame(0x01, [0x22, 0xF0, 0x9F]), .. ProtectionKit.Frame(0x80, [0x41, 0x22])], CloseCode.InvalidPayloadData },
            { "invalid UTF-8 in a close reason", ProtectionKit.Frame(0x88, ProtectionKit.ClosePayload(1000, [0xFF, 0xFE])), CloseCode.InvalidPayloadData },
            { "binary message", ProtectionKit.Frame(0x82, [1, 2, 3]), CloseCode.UnsupportedData },
        };
    }

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Protocol_violation_gets_the_right_close_code_and_harms_nobody_else(string violation, byte[] bytes, ushort expected)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await client.SendTextAsync("""{"type":"subscribe","channels":["price:SOL","trades:SOL"]}""");
        Assert.StartsWith("""{"type":"subscribed""", await client.ReadTextAsync());

        await client.SendAsync(bytes);

        RawFrame? reply = await client.ReadFrameOrEndAsync();
        if (reply is not RawFrame { Type: WebSocketMessageType.Close } close)
        {
            Assert.Fail($"{violation}: expected a close frame, got {(reply is null ? "the end of the connection" : reply.Value.Type.ToString())}");
            return;
        }

        Assert.True(expected == close.CloseStatus, $"{violation}: expected close {expected}, got {close.CloseStatus} '{close.Text}'");
        Assert.Null(await client.ReadFrameOrEndAsync()); // and then the connection ends

        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 1, "the violator's connection to end (and be counted)");
        Assert.Equal(1, server.State.Metrics.ClosesWithCode(expected));
        Assert.Equal(1, server.State.Metrics.ClosesByCode().Sum(c => c.Value));
        Assert.Equal(1, server.State.Channels.Count); // only the bystander's
        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Flood_of_1000_subscribes_with_default_rate_limits_gets_rate_limited_then_1008()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            // The defaults TestServer switches off, back on.
            o.Limits.MaxMessagesPerWindow = 60;
            o.Limits.MessageWindow = TimeSpan.FromMinutes(1);
            o.Limits.MaxRateLimitErrors = 10;
        });
        await using Bystander bystander = await Bystander.StartAsync(server);
        await using RawClient flooder = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        // All 1,000 in one write.
        byte[] flood = Enumerable.Range(0, 1000)
            .SelectMany(i => RawClient.MaskedText($$"""{"type":"subscribe","channels":["price:F{{i % 10}}"],"id":{{i}}}"""))
            .ToArray();
        try
        {
            await flooder.SendAsync(flood);
        }
        catch (IOException)
        {
            // The server may close before it has read everything.
        }

        var acks = new List<int>();
        var limited = new List<int>();
        RawFrame? close = null;
        while (await flooder.ReadFrameOrEndAsync() is RawFrame frame)
        {
            if (frame.Type == WebSocketMessageType.Close)
            {
                close = frame;
                continue;
            }

            Assert.Null(close);
            using JsonDocument reply = JsonDocument.Parse(frame.Text);
            string type = reply.RootElement.GetProperty("type").GetString()!;
            int id = reply.RootElement.GetProperty("id").GetInt32();
            if (type == "subscribed")
            {
                acks.Add(id);
            }
            else
            {
                Assert.Equal("rate_limited", reply.RootElement.GetProperty("code").GetString());
                limited.Add(id);
            }
        }

        // 60 served, 10 refused, and the 71st refused message ends it. (With no close frame seen, the connection was
        // reset with the close still unread: the server's metrics say what it sent.)
        Assert.Equal(Enumerable.Range(0, 60), acks);
        Assert.Equal(Enumerable.Range(60, 10), limited);
        if (close is RawFrame closeFrame)
        {
            Assert.Equal(CloseCode.PolicyViolation, closeFrame.CloseStatus);
        }

        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 1, "the flooder's connection to end (and be counted)");
        Assert.Equal(1, server.State.Metrics.ClosesWithCode(CloseCode.PolicyViolation));
        Assert.Equal(11, server.State.Metrics.RateLimited);
        Assert.Equal(1, server.State.Channels.Count);
        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Flood_from_ClientWebSocket_sees_the_1008_close_with_its_reason()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 60;
            o.Limits.MessageWindow = TimeSpan.FromMinutes(1);
            o.Limits.MaxRateLimitErrors = 10;
        });
        await using TestClient client = await server.ConnectAsync();

        // Send until the server closes (it stops reading after its close frame, so later sends may fail).
        for (int i = 0; i < 1000 && client.Socket.State == WebSocketState.Open; i++)
        {
            try
            {
                await client.SendAsync($$"""{"type":"subscribe","channels":["price:F{{i % 10}}"],"id":{{i}}}""");
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
            {
                break;
            }
        }

        await client.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
        Assert.Equal("Rate limit exceeded repeatedly", client.CloseDescription);
        await ProtectionKit.AssertNothingLeftAsync(server);
    }
}
