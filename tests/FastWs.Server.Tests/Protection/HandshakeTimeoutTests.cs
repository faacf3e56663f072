using System.Diagnostics;
using System.Text;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;
using FastWs.Server.Transport;

namespace FastWs.Server.Tests.Protection;

/// <summary>The upgrade must complete within the handshake timeout; a client that stalls half way holds nothing for long.</summary>
public sealed class HandshakeTimeoutTests
{
    [Theory]
    [InlineData("GET /w", true)]
    [InlineData("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n", true)]
    [InlineData("", false)] // a client that sends nothing, with deferred accept off (with it on, see below)
    public async Task Client_that_stalls_in_the_handshake_is_dropped_and_counted_as_timeout(string partialRequest, bool deferAccept)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(500);
            o.Transport.DeferAccept = deferAccept ? TimeSpan.FromSeconds(1) : TimeSpan.Zero;
        });
        var watch = Stopwatch.StartNew(); // before the connect: the server's clock for this upgrade starts no earlier
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        if (partialRequest.Length > 0)
        {
            await client.SendAsync(partialRequest);
        }

        await TestServer.WaitUntilAsync(() => server.State.PendingHandshakes.Count == 1, "the upgrade to be pending");

        byte[] answer = await ProtectionKit.ReadUntilClosedAsync(client.Socket, TimeSpan.FromSeconds(5));
        watch.Stop();

        Assert.Empty(answer); // no HTTP response: just dropped
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(450), $"Dropped before the timeout: {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1.5), $"Dropped too late: {watch.ElapsedMilliseconds} ms after a 500 ms timeout");
        await TestServer.WaitUntilAsync(() => server.State.PendingHandshakes.Count == 0, "the pending upgrade to be forgotten");
        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailuresTotal > 0, "the failure to be counted (right after the abort)");
        Assert.Equal(1, server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Timeout));
        Assert.Equal(1, server.State.Metrics.HandshakeFailuresTotal);
        Assert.Equal(0, server.State.Metrics.ConnectionsTotal);
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task With_deferred_accept_a_silent_client_reaches_the_server_only_after_the_defer_period_then_times_out()
    {
        Assert.SkipUnless(EpollTransportFactory.IsSupported, "deferred accept is an epoll-transport setting");
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.FromMilliseconds(500);
            o.Transport.DeferAccept = TimeSpan.FromSeconds(1);
        });
        var watch = Stopwatch.StartNew();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        // Connected as far as the client can tell, but the kernel has not handed it to the server yet.
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        Assert.Equal(0, server.State.PendingHandshakes.Count);

        byte[] answer = await ProtectionKit.ReadUntilClosedAsync(client.Socket, TimeSpan.FromSeconds(10));
        watch.Stop();
        Assert.Empty(answer);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(1400), $"Dropped before defer + timeout: {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Dropped too late: {watch.ElapsedMilliseconds} ms");
        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailuresTotal > 0, "the failure to be counted");
        Assert.Equal(1, server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Timeout));
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task With_deferred_accept_a_client_is_served_at_once_and_a_probe_that_closes_is_handed_over_by_its_FIN()
    {
        Assert.SkipUnless(EpollTransportFactory.IsSupported, "deferred accept is an epoll-transport setting");
        await using TestServer server = await TestServer.StartAsync(o => o.Transport.DeferAccept = TimeSpan.FromSeconds(3));
        var watch = Stopwatch.StartNew();
        await using (RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint))
        {
            await client.SendTextAsync("""{"type":"ping"}""");
            Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"The upgrade waited for the defer period: {watch.ElapsedMilliseconds} ms");
        }

        // A TCP health check (connect, close without a byte): its FIN wakes the accept like data would, well
        // before the 3 s defer period, and the server counts it as a client that left during the handshake.
        watch.Restart();
        await using (RawClient probe = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
        }

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Disconnected) == 1, "the probe to be counted");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"The probe was handed over late: {watch.ElapsedMilliseconds} ms");
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal);
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-5_000, 0)]
    [InlineData(1_000, 1)]
    [InlineData(1_200, 2)]
    [InlineData(100_000_000, 3600)]
    public void DeferAccept_is_given_to_the_kernel_in_whole_seconds_rounded_up_and_bounded(int milliseconds, int seconds)
    {
        var transport = new FastWs.Server.Hosting.TransportOptions { DeferAccept = TimeSpan.FromMilliseconds(milliseconds) };
        Assert.Equal(seconds, transport.EffectiveDeferAcceptSeconds);
    }

    [Fact]
    public async Task Slow_but_complete_handshake_within_the_timeout_succeeds()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(1));
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        byte[] request = Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));

        // Eight pieces over about 400 ms: several supervisor ticks (250 ms apart) see it pending and leave it alone.
        var watch = Stopwatch.StartNew();
        int piece = (request.Length + 7) / 8;
        for (int offset = 0; offset < request.Length; offset += piece)
        {
            await client.SendAsync(request.AsMemory(offset, Math.Min(piece, request.Length - offset)));
            await Task.Delay(50);
        }

        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        Assert.True(watch.Elapsed > TimeSpan.FromMilliseconds(300), $"The request was not slow: {watch.ElapsedMilliseconds} ms");

        // Well past the timeout, the connection is still there and works.
        await Task.Delay(TimeSpan.FromSeconds(0.9));
        await client.SendTextAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal);
        Assert.Equal(0, server.State.PendingHandshakes.Count);
        Assert.Equal(1, server.State.Connections.Count);
    }

    [Fact]
    public async Task Zero_handshake_timeout_switches_it_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.HandshakeTimeout = TimeSpan.Zero;
            o.Heartbeat.PingInterval = TimeSpan.FromSeconds(2);
            o.Heartbeat.PongTimeout = TimeSpan.FromSeconds(1); // keeps the supervisor ticking every 250 ms
        });
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string request = RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey());

        await client.SendAsync(request[..10]);
        await Task.Delay(TimeSpan.FromSeconds(0.8));
        await client.SendAsync(request[10..]);

        Assert.Equal(101, (await client.ReadHttpResponseAsync()).StatusCode);
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal);
    }
}
