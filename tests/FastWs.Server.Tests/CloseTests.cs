using System.Net.WebSockets;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;
using WsMessageType = System.Net.WebSockets.WebSocketMessageType;

namespace FastWs.Server.Tests;

/// <summary>Closes: binary (1003), oversize (1009), the close handshake started by either side.</summary>
public sealed class CloseTests
{
    [Fact]
    public async Task Binary_message_gets_close_1003()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync([1, 2, 3], WsMessageType.Binary);

        await client.AssertClosedWithAsync(WebSocketCloseStatus.InvalidMessageType);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "the connection to end");
    }

    [Fact]
    public async Task Message_over_MaxMessageSize_gets_close_1009()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        await using TestClient client = await server.ConnectAsync();

        // Just under the limit is fine (an error reply, since it is not a known message) ...
        string under = $$"""{"type":"ping","pad":"{{new string('a', 1000)}}"}""";
        Assert.True(Encoding.UTF8.GetByteCount(under) <= 1024);
        await client.SendAsync(under);
        Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());

        // ... over it closes the connection.
        await client.SendAsync($$"""{"type":"ping","pad":"{{new string('a', 2000)}}"}""");

        await client.AssertClosedWithAsync(WebSocketCloseStatus.MessageTooBig);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "the connection to end");
    }

    [Fact]
    public async Task Fragmented_message_over_MaxMessageSize_in_total_gets_close_1009()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxMessageSize = 1024);
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        byte[] chunk = Encoding.ASCII.GetBytes(new string(' ', 400));
        await client.SendAsync(RawClient.MaskedFrame(WebSocketOpcode.Text, chunk, fin: false));
        await client.SendAsync(RawClient.MaskedFrame(WebSocketOpcode.Continuation, chunk, fin: false));
        await client.SendAsync(RawClient.MaskedFrame(WebSocketOpcode.Continuation, chunk, fin: false));

        RawFrame close = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(CloseCode.MessageTooBig, close.CloseStatus);
    }

    [Fact]
    public async Task Client_initiated_close_with_ClientWebSocket_CloseAsync_completes_with_the_status()
    {
        await using TestServer server = await TestServer.StartAsync();

        // A bare ClientWebSocket (no background receive loop), as an application would use it.
        using var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        await socket.ConnectAsync(server.WebSocketUri, timeout.Token);
        byte[] buffer = new byte[1024];
        ValueWebSocketReceiveResult connected = await socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
        Assert.StartsWith("""{"type":"connected","connectionId":""", Encoding.UTF8.GetString(buffer, 0, connected.Count), StringComparison.Ordinal);
        await socket.SendAsync(Encoding.UTF8.GetBytes("""{"type":"subscribe","channels":["price:SOL"]}"""), WsMessageType.Text, true, timeout.Token);
        ValueWebSocketReceiveResult ack = await socket.ReceiveAsync(buffer.AsMemory(), timeout.Token);
        Acks.AssertSubscribed(Encoding.UTF8.GetString(buffer, 0, ack.Count), ["price:SOL"]);
        Assert.Equal(1, server.State.Channels.Count);

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);

        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0 && server.State.Channels.Count == 0 && server.State.Metrics.ConnectionsActive == 0,
            "the connection and its subscription to be cleaned up");
    }

    [Fact]
    public async Task Client_initiated_close_while_data_is_flowing_is_still_echoed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");
        using var stop = new CancellationTokenSource();
        Task publisher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await server.Server.Publisher.PublishAsync("price:SOL", "{}");
                await Task.Delay(1);
            }
        });

        await Task.Delay(50);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done");
        await stop.CancelAsync();
        await publisher;

        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0 && server.State.Channels.Count == 0,
            "the connection and its subscription to be cleaned up");
    }

    [Fact]
    public async Task Client_close_with_an_application_code_is_echoed_with_that_code()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await client.SendCloseAsync(4000);

        RawFrame close = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(4000, close.CloseStatus);
        await client.ReadToEndAsync();
    }

    [Fact]
    public async Task Graceful_shutdown_sends_1001_to_every_client()
    {
        TestServer server = await TestServer.StartAsync();
        await using (server)
        {
            await using TestClient a = await server.ConnectAsync();
            await using TestClient b = await server.ConnectAsync();
            await SubscriptionTests.Subscribe(a, "price:SOL");

            await server.StopAsync();

            await a.AssertClosedWithAsync(WebSocketCloseStatus.EndpointUnavailable);
            await b.AssertClosedWithAsync(WebSocketCloseStatus.EndpointUnavailable);
            Assert.Equal(0, server.State.Connections.Count);
        }
    }

    [Fact]
    public async Task Graceful_shutdown_delivers_messages_published_before_it()
    {
        TestServer server = await TestServer.StartAsync();
        await using (server)
        {
            await using TestClient client = await server.ConnectAsync();
            await SubscriptionTests.Subscribe(client, "price:SOL");
            for (int i = 1; i <= 100; i++)
            {
                await server.Server.Publisher.PublishAsync("price:SOL", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            await server.StopAsync();

            for (int i = 1; i <= 100; i++)
            {
                Assert.Equal($$"""{"type":"message","channel":"price:SOL","seq":{{i}},"data":{{i}}}""", await client.ReceiveAsync());
            }

            await client.AssertClosedWithAsync(WebSocketCloseStatus.EndpointUnavailable);
        }
    }

    [Fact]
    public async Task Graceful_shutdown_drops_a_client_that_does_not_answer_the_close_after_the_close_timeout()
    {
        TestServer server = await TestServer.StartAsync(o => o.CloseTimeout = TimeSpan.FromMilliseconds(500));
        await using (server)
        {
            await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
            await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the connection to be registered");

            var watch = System.Diagnostics.Stopwatch.StartNew();
            await server.StopAsync();
            watch.Stop();

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Shutdown took {watch.ElapsedMilliseconds} ms with a 500 ms close timeout");
            Assert.Equal(0, server.State.Connections.Count);
            RawFrame close = await client.ReadFrameAsync();
            Assert.Equal(WebSocketMessageType.Close, close.Type);
            Assert.Equal(CloseCode.GoingAway, close.CloseStatus);
            await client.ReadToEndAsync();
        }
    }

    [Fact]
    public async Task Connection_attempt_during_shutdown_is_refused()
    {
        TestServer server = await TestServer.StartAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(1.5));
        await using (server)
        {
            // A connected client that never answers the close keeps the shutdown waiting, with the listener still open.
            await using RawClient lingering = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
            await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the connection to be registered");
            Task stopping = server.StopAsync();
            await TestServer.WaitUntilAsync(() => server.State.IsShuttingDown, "shutdown to begin");

            try
            {
                await using RawClient late = await RawClient.ConnectAsync(server.WebSocketEndPoint);
                await late.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));
                RawHttpResponse response = await late.ReadHttpResponseAsync();
                Assert.Equal(503, response.StatusCode);
            }
            catch (System.Net.Sockets.SocketException)
            {
                // The listener may already be closed: refused at the TCP level is fine too.
            }

            await stopping;
        }
    }

    [Fact]
    public async Task Invalid_UTF8_in_a_text_message_gets_close_1007()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await client.SendFrameAsync(WebSocketOpcode.Text, [0x7B, 0xC3, 0x28, 0x7D]);

        RawFrame close = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(CloseCode.InvalidPayloadData, close.CloseStatus);
    }

    [Fact]
    public async Task Client_that_vanishes_without_a_close_is_cleaned_up()
    {
        await using TestServer server = await TestServer.StartAsync();
        RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await client.SendTextAsync("""{"type":"subscribe","channels":["price:SOL","trades:SOL"]}""");
        await client.ReadTextAsync();
        Assert.Equal(2, server.State.Channels.Count);

        await client.DisposeAsync();

        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0 && server.State.Channels.Count == 0 && server.State.Metrics.ConnectionsActive == 0,
            "the connection and its subscriptions to be cleaned up");
    }

    [Fact]
    public async Task Writes_through_a_reference_held_after_the_connection_ended_are_dropped_not_thrown()
    {
        // Fan-out loops, the supervisor and shutdown can hold a connection a moment after its handler ended and
        // Kestrel completed its transport; writing then must be a no-op (a throw would kill a fan-out loop).
        await using TestServer server = await TestServer.StartAsync();
        RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the connection to be registered");
        Connections.WebSocketConnection stale = server.State.Connections.All.Single();

        await client.DisposeAsync();
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "the connection to end");
        await Task.Delay(200); // let Kestrel finish tearing the transport down

        byte[] frame = new byte[2 + 2];
        FrameWriter.WriteFrame(frame, WebSocketOpcode.Text, "{}"u8);
        Assert.Equal(Connections.DataWrite.Closed, stale.WriteDirect(frame, sendThrough: true));
        Assert.Equal(Connections.DataWrite.Closed, stale.WriteDirect(frame, sendThrough: false));
        stale.WriteControl(frame);
        stale.Flush();
        stale.TrySendClose(CloseCode.GoingAway, "late");
    }

    [Fact]
    public async Task Unmasked_client_frame_is_a_protocol_error_1002()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        byte[] unmasked = new byte[2 + 15];
        FrameWriter.WriteFrame(unmasked, WebSocketOpcode.Text, """{"type":"ping"}"""u8);
        await client.SendAsync(unmasked);

        RawFrame close = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(CloseCode.ProtocolError, close.CloseStatus);
    }

    [Fact]
    public async Task A_client_that_never_answers_the_servers_close_is_dropped_after_the_close_timeout()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.CloseTimeout = TimeSpan.FromMilliseconds(500));
        await using RawClient raw = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, () => "the connection to register");
        Connections.WebSocketConnection connection = server.State.Connections.All.Single();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(connection.TrySendClose(4000, "closing you"));
        RawFrame close = await raw.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(4000, close.CloseStatus);

        // The client never answers: the supervisor drops it once the close timeout has passed.
        await raw.ReadToEndAsync(TimeSpan.FromSeconds(5));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(4));
        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 0, () => "the connection to be cleaned up");
    }
}
