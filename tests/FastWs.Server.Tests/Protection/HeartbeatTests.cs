using System.Diagnostics;
using System.Net.WebSockets;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// Heartbeats with short intervals (300 ms ping, 250 ms pong timeout: it must be shorter than the interval): live clients stay, silent ones are dropped
/// and freed. (A client's own ping frame getting a pong is in <see cref="PublishTests"/>.)
/// </summary>
public sealed class HeartbeatTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(250);

    private static Task<TestServer> StartAsync() => TestServer.StartAsync(o =>
    {
        o.Heartbeat.PingInterval = Interval;
        o.Heartbeat.PongTimeout = Timeout;
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Client_answering_pings_stays_connected_over_several_intervals(bool answerWithPong)
    {
        await using TestServer server = await StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        // Four intervals (a silent client is gone after two): each ping is answered at once, with a pong frame or (any frame is a sign of life) a JSON ping.
        int pings = 0, pongs = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Interval * 4 || pings < 3)
        {
            RawFrame? frame = await client.ReadFrameOrEndAsync(TimeSpan.FromSeconds(5));
            Assert.True(frame is not null, $"Connection dropped after {watch.ElapsedMilliseconds} ms and {pings} pings");
            if (frame.Value.Type == WebSocketMessageType.Ping)
            {
                pings++;
                if (answerWithPong)
                {
                    await client.SendFrameAsync(WebSocketOpcode.Pong, frame.Value.Payload);
                }
                else
                {
                    await client.SendTextAsync("""{"type":"ping"}""");
                }
            }
            else
            {
                Assert.Equal(WebSocketMessageType.Text, frame.Value.Type);
                Assert.Equal("""{"type":"pong"}""", frame.Value.Text);
                pongs++;
            }
        }

        Assert.True(watch.Elapsed < Interval * 10, $"Only {pings} pings in {watch.ElapsedMilliseconds} ms with a {Interval.TotalMilliseconds} ms interval");
        Assert.True(answerWithPong || pongs >= pings - 1, $"{pongs} JSON pongs for {pings} JSON pings");
        Assert.Equal(0, server.State.Metrics.HeartbeatsMissed);
        Assert.Equal(1, server.State.Connections.Count);
        await TestServer.WaitUntilAsync(() => server.State.Metrics.HeartbeatsSent >= pings, $"{pings} pings to be counted (the count follows the send)");

        // Still fully usable.
        await client.SendTextAsync("""{"type":"ping","id":1}""");
        while (true)
        {
            RawFrame frame = await client.ReadFrameAsync();
            if (frame.Type == WebSocketMessageType.Ping)
            {
                await client.SendFrameAsync(WebSocketOpcode.Pong, frame.Payload);
                continue;
            }

            if (frame.Text == """{"type":"pong"}""")
            {
                continue; // the answer to a last JSON-ping sign of life
            }

            Assert.Equal("""{"type":"pong","id":1}""", frame.Text);
            break;
        }
    }

    [Fact]
    public async Task Silent_client_is_dropped_after_interval_plus_timeout_and_its_state_freed()
    {
        await using TestServer server = await StartAsync();
        var watch = Stopwatch.StartNew(); // before the connect: the server's heartbeat clock starts no earlier
        RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await using (client)
        {
            await client.SendTextAsync("""{"type":"subscribe","channels":["price:SOL","trades:SOL"]}""");
            Assert.StartsWith("""{"type":"subscribed""", await client.ReadTextAsync());
            Assert.Equal(2, server.State.Channels.Count);

            // From now on the client reads but sends nothing: not even a pong.
            int pings = 0;
            RawFrame? close = null;
            while (await client.ReadFrameOrEndAsync(TimeSpan.FromSeconds(5)) is RawFrame frame)
            {
                if (frame.Type == WebSocketMessageType.Ping)
                {
                    pings++;
                }
                else
                {
                    Assert.Equal(WebSocketMessageType.Close, frame.Type);
                    close = frame;
                }
            }

            watch.Stop();
            Assert.Equal(1, pings);
            if (close is RawFrame closeFrame)
            {
                Assert.Equal(CloseCode.GoingAway, closeFrame.CloseStatus);
            }

            // Nominally interval + timeout + up to two ticks (75 ms each); generous on a loaded machine, but never early.
            Assert.True(watch.Elapsed >= Interval + Timeout - TimeSpan.FromMilliseconds(50), $"Dropped too early: {watch.ElapsedMilliseconds} ms");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5), $"Dropped too late: {watch.ElapsedMilliseconds} ms");
        }

        await ProtectionKit.AssertNothingLeftAsync(server);
        Assert.Equal(1, server.State.Metrics.HeartbeatsMissed);
        Assert.True(server.State.Metrics.HeartbeatsSent >= 1);
        Assert.Equal(1, server.State.Metrics.ClosesWithCode(CloseCode.GoingAway));
    }

    [Fact]
    public async Task Silent_and_live_clients_side_by_side_only_the_silent_one_goes()
    {
        await using TestServer server = await StartAsync();
        await using TestClient live = await server.ConnectAsync(); // ClientWebSocket answers pings by itself while receiving
        await SubscriptionTests.Subscribe(live, "price:SOL");
        await using RawClient silent = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 2, "both connections to be registered");

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HeartbeatsMissed == 1 && server.State.Connections.Count == 1, "the silent client to be dropped");
        await Task.Delay(Interval * 4);

        Assert.Equal(1, server.State.Metrics.HeartbeatsMissed);
        Assert.True(server.State.Metrics.HeartbeatsSent >= 5, $"Only {server.State.Metrics.HeartbeatsSent} pings sent");
        Assert.Equal(WebSocketState.Open, live.Socket.State);
        Assert.Equal(1, server.State.Connections.Count);
        await server.Server.Publisher.PublishAsync("price:SOL", "1");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":1}""", await live.ReceiveAsync());

        // The silent client saw its ping, perhaps a close frame, then the end of the connection.
        while (await silent.ReadFrameOrEndAsync() is RawFrame frame)
        {
            Assert.True(frame.Type is WebSocketMessageType.Ping or WebSocketMessageType.Close, $"Unexpected {frame.Type} frame");
        }
    }

    [Fact]
    public async Task Zero_ping_interval_switches_heartbeats_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Heartbeat.PingInterval = TimeSpan.Zero;
            o.Heartbeat.PongTimeout = Timeout;
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(300); // keeps the supervisor ticking fast
        });
        await using RawClient silent = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await Task.Delay(TimeSpan.FromSeconds(0.8)); // over two intervals plus the timeout

        Assert.Equal(1, server.State.Connections.Count);
        Assert.Equal(0, server.State.Metrics.HeartbeatsSent);
        await silent.SendTextAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await silent.ReadTextAsync());
    }
}
