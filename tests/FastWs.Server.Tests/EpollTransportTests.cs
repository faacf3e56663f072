using System.Net;
using System.Net.Sockets;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.Hosting;
using FastWs.Server.Connections;
using FastWs.Server.Tests.TestSupport;
using FastWs.Server.Transport;

namespace FastWs.Server.Tests;

/// <summary>
/// The epoll transport's own edges, the ones Kestrel's socket transport handled for us before: the end of the
/// stream arriving together with data, requests split anywhere or larger than one receive, descriptors given
/// back, IPv6, and which engine actually runs. Everything else (handshakes, fan-out, slow consumers, shutdown)
/// is covered by the rest of the suite, which runs on the epoll transport by default.
/// </summary>
public sealed class EpollTransportTests
{
    private static bool EpollSupported => EpollTransportFactory.IsSupported;

    /// <summary>An upgrade request for /ws and one masked text frame after it, as the bytes of a single send.</summary>
    private static byte[] UpgradeFollowedBy(IPEndPoint endPoint, string json) =>
        [.. Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(endPoint, "/ws", RawClient.NewKey())), .. RawClient.MaskedText(json)];

    [Fact]
    public async Task The_WebSocket_endpoint_runs_on_epoll_by_default_and_on_sockets_when_asked_or_without_direct_sends()
    {
        await using (TestServer byDefault = await TestServer.StartAsync())
        {
            Assert.Equal(EpollSupported ? TransportEngine.Epoll : TransportEngine.Sockets, byDefault.Server.Transport);
            using var http = new HttpClient { BaseAddress = byDefault.HttpUri };
            using var stats = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri("/ws/stats", UriKind.Relative)));
            Assert.Equal(EpollSupported ? "epoll" : "sockets", stats.RootElement.GetProperty("transport").GetString());
        }

        await using (TestServer sockets = await TestServer.StartAsync(o => o.Transport.Engine = TransportEngine.Sockets))
        {
            Assert.Equal(TransportEngine.Sockets, sockets.Server.Transport);
            await using RawClient client = await RawClient.ConnectWebSocketAsync(sockets.WebSocketEndPoint);
        }

        await using TestServer pipe = await TestServer.StartAsync(o => o.Transport.DirectSends = false);
        Assert.Equal(TransportEngine.Sockets, pipe.Server.Transport);
    }

    [Fact]
    public async Task Upgrade_subscribe_and_FIN_in_one_burst_get_their_answers_and_the_connection_is_cleaned_up()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        byte[] burst = UpgradeFollowedBy(server.WebSocketEndPoint, """{"type":"subscribe","channels":["price:BTC"],"id":7}""");

        // One send, then the FIN at once: the server's first read may see all of it, the end of the stream included,
        // and no later event will announce that end again.
        await client.Socket.SendAsync(burst, SocketFlags.None);
        client.Socket.Shutdown(SocketShutdown.Send);

        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        RawFrame ack = await client.ReadFrameAsync();
        Assert.Contains("\"subscribed\"", ack.Text, StringComparison.Ordinal);
        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0 && server.State.Channels.Count == 0,
            () => $"the half-closed connection to be cleaned up (connections {server.State.Connections.Count}, channels {server.State.Channels.Count})",
            TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_request_split_into_three_byte_pieces_and_frames_split_across_reads_are_put_together()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        byte[] all = UpgradeFollowedBy(server.WebSocketEndPoint, """{"type":"ping","id":1}""");
        for (int i = 0; i < all.Length; i += 3)
        {
            await client.SendAsync(all.AsMemory(i, Math.Min(3, all.Length - i)));
            await Task.Delay(1);
        }

        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        RawFrame pong = await client.ReadFrameAsync();
        Assert.Contains("\"pong\"", pong.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_larger_than_one_receive_is_read_whole_and_one_over_the_limit_gets_431()
    {
        await using TestServer server = await TestServer.StartAsync();

        // About 7 KB of headers: more than one 4 KB receive, under the 8 KB limit.
        string padding = string.Concat(Enumerable.Range(0, 70).Select(i => $"X-Pad-{i}: {new string('a', 90)}\r\n"));
        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: padding));
            Assert.Equal(101, (await client.ReadHttpResponseAsync()).StatusCode);
        }

        string tooMuch = string.Concat(Enumerable.Range(0, 100).Select(i => $"X-Pad-{i}: {new string('a', 90)}\r\n"));
        await using RawClient rejected = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        await rejected.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: tooMuch));
        Assert.Equal(431, (await rejected.ReadHttpResponseAsync()).StatusCode);
    }

    [Fact]
    public async Task Descriptors_are_closed_when_connections_end_however_they_end()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "counts /proc/self/fd");
        await using TestServer server = await TestServer.StartAsync();
        int before = Directory.GetFiles("/proc/self/fd").Length;

        for (int round = 0; round < 3; round++)
        {
            var clients = new List<RawClient>();
            for (int i = 0; i < 50; i++)
            {
                clients.Add(await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint));
            }

            for (int i = 0; i < clients.Count; i++)
            {
                switch (i % 3)
                {
                    case 0:
                        await clients[i].SendCloseAsync(CloseCode.NormalClosure); // close handshake
                        await clients[i].ReadToEndAsync();
                        break;
                    case 1:
                        clients[i].Socket.LingerState = new LingerOption(true, 0); // reset
                        break;
                }

                await clients[i].DisposeAsync(); // and case 2: a plain FIN with no close frame
            }

            await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "every connection to end");
        }

        // The test process holds both ends of each connection; only a leak on the server's side would grow this.
        await TestServer.WaitUntilAsync(
            () => Directory.GetFiles("/proc/self/fd").Length <= before + 10,
            () => $"descriptors back to about {before} (now {Directory.GetFiles("/proc/self/fd").Length})");
    }

    [Fact]
    public async Task Serves_IPv6_loopback_and_reports_the_peer_address()
    {
        Assert.SkipUnless(Socket.OSSupportsIPv6, "no IPv6 on this machine");
        TestServer server;
        try
        {
            server = await TestServer.StartAsync(o => o.WebSocket.Address = "::1");
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            Assert.Skip($"cannot bind [::1]: {ex.Message}");
            return;
        }

        await using (server)
        {
            Assert.Equal(IPAddress.IPv6Loopback, server.WebSocketEndPoint.Address);
            await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
            await client.SendTextAsync("""{"type":"ping","id":1}""");
            Assert.Contains("\"pong\"", (await client.ReadFrameAsync()).Text, StringComparison.Ordinal);
            Assert.Equal(IPAddress.IPv6Loopback, server.State.Connections.All.Single().RemoteAddress);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Connections_from_one_address_share_one_client_address_and_still_report_their_peer(bool epoll)
    {
        Assert.SkipUnless(!epoll || EpollSupported, "epoll transport not available here");
        await using TestServer server = await TestServer.StartAsync(o => o.Transport.Engine = epoll ? TransportEngine.Epoll : TransportEngine.Sockets);
        await using RawClient one = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await using RawClient two = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 2, "both connections to be registered");

        WebSocketConnection[] connections = server.State.Connections.All.ToArray();
        Assert.Same(connections[0].ClientIp, connections[1].ClientIp);
        Assert.Equal(IPAddress.Loopback, connections[0].ClientIp);
        Assert.All(connections, c => Assert.Equal(IPAddress.Loopback, c.RemoteAddress));
    }

    [Fact]
    public async Task Stopping_the_server_stops_its_epoll_threads()
    {
        Assert.SkipUnless(EpollSupported, "epoll transport not available here");
        TestServer server = await TestServer.StartAsync(o => o.Transport.IoThreads = 3);
        await using (RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint))
        {
        }

        // Thread names from /proc: other tests' servers may run at the same time, so count down from what is running now.
        static string[] Names() => Directory.GetDirectories("/proc/self/task")
            .Select(t => { try { return File.ReadAllText(Path.Combine(t, "comm")).Trim(); } catch (IOException) { return ""; } })
            .Where(n => n.StartsWith("FastWs epoll", StringComparison.Ordinal)).ToArray();
        int running = Names().Length;
        Assert.True(running >= 3, $"expected the server's 3 epoll threads, saw {running}");
        await server.DisposeAsync();
        await TestServer.WaitUntilAsync(() => Names().Length <= running - 3, () => $"the 3 epoll threads to end ({Names().Length} of {running} left)");
    }
}
