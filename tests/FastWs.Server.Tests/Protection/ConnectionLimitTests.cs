using System.Net;
using System.Net.WebSockets;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// Connections in total and per client IP: over a limit, the client is upgraded and closed at once with 1008 and a
/// reason; X-Forwarded-For counts only behind a trusted proxy; slots come back when clients leave.
/// </summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task Connection_over_MaxConnections_gets_101_then_1008_with_a_reason_and_a_freed_slot_lets_the_next_in()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxConnections = 3);
        var clients = new List<TestClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                clients.Add(await server.ConnectAsync());
            }

            await TestServer.WaitUntilAsync(() => server.State.ConnectionLimiter.Total == 3, "three connections to be counted");

            // The 4th: ClientWebSocket's connect succeeds (101), then the close frame tells it why.
            await using (TestClient fourth = await server.ConnectAsync())
            {
                Assert.Equal(101, (int?)fourth.Socket.HttpStatusCode);
                await fourth.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
                Assert.Equal("Server connection limit reached", fourth.CloseDescription);
            }

            Assert.Equal(3, server.State.Connections.Count);
            Assert.Equal(1, server.State.Metrics.LimitRejections);
            Assert.Equal(1, server.State.Metrics.ClosesWithCode(CloseCode.PolicyViolation));
            Assert.Equal(3, server.State.Metrics.ConnectionsTotal);

            // The three are unaffected.
            foreach (TestClient client in clients)
            {
                await client.SendAsync("""{"type":"ping"}""");
                Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());
            }

            // One leaves; once its slot is released, a new client gets in and stays.
            await clients[0].CloseAsync();
            await TestServer.WaitUntilAsync(() => server.State.ConnectionLimiter.Total == 2, "the slot to be released");
            clients.Add(await server.ConnectAsync());
            await clients[^1].SendAsync("""{"type":"ping"}""");
            Assert.Equal("""{"type":"pong"}""", await clients[^1].ReceiveAsync());
            Assert.Equal(3, server.State.ConnectionLimiter.Total);
            Assert.Equal(1, server.State.Metrics.LimitRejections);

            foreach (TestClient client in clients.Skip(1))
            {
                await client.CloseAsync();
            }
        }
        finally
        {
            foreach (TestClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Third_connection_from_one_IP_is_closed_1008_with_MaxConnectionsPerIp_2()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxConnectionsPerIp = 2);
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();

        await using (TestClient c = await server.ConnectAsync())
        {
            await c.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
            Assert.Equal("Too many connections from this IP", c.CloseDescription);
        }

        // Raw: the 101 and the close frame, then the end of the connection.
        await using (RawClient raw = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint))
        {
            RawFrame close = await raw.ReadFrameAsync();
            Assert.Equal(WebSocketMessageType.Close, close.Type);
            Assert.Equal(CloseCode.PolicyViolation, close.CloseStatus);
            Assert.EndsWith("Too many connections from this IP", close.Text);
            Assert.Null(await raw.ReadFrameOrEndAsync());
        }

        Assert.Equal(2, server.State.ConnectionLimiter.Total);
        Assert.Equal(1, server.State.ConnectionLimiter.DistinctIps);
        Assert.Equal(2, server.State.Metrics.LimitRejections);
        Assert.Equal(2, server.State.Metrics.ClosesWithCode(CloseCode.PolicyViolation));

        await a.CloseAsync();
        await b.CloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_limit_counts_per_forwarded_IP()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxConnectionsPerIp = 2;
            o.Limits.TrustedProxies = ["127.0.0.1"];
        });
        var open = new List<RawClient>();
        try
        {
            // Two per forwarded IP get in, for each of two IPs; the direct (unforwarded) peer has its own two.
            foreach (string forwarded in new[] { "203.0.113.7", "198.51.100.1", "203.0.113.7", "198.51.100.1" })
            {
                open.Add(await ConnectForwardedAsync(server, forwarded, expectAccepted: true));
            }

            open.Add(await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint));
            await TestServer.WaitUntilAsync(() => server.State.ConnectionLimiter.Total == 5, "five connections to be counted");
            Assert.Equal(3, server.State.ConnectionLimiter.DistinctIps);

            // A third from either forwarded IP is refused; the right-most untrusted hop is the one that counts,
            // whatever the client wrote further left.
            await using (await ConnectForwardedAsync(server, "203.0.113.7", expectAccepted: false))
            {
            }

            await using (await ConnectForwardedAsync(server, "10.9.9.9, 198.51.100.1", expectAccepted: false))
            {
            }

            // Trusted proxies in the chain are skipped: the client is the first untrusted address from the right.
            await using (await ConnectForwardedAsync(server, "203.0.113.7, 127.0.0.1", expectAccepted: false))
            {
            }

            // ClientWebSocket with the header set: a third IP still gets in.
            await using (TestClient viaProxy = await ConnectWithHeaderAsync(server, "192.0.2.44"))
            {
                await viaProxy.SendAsync("""{"type":"ping"}""");
                Assert.Equal("""{"type":"pong"}""", await viaProxy.ReceiveAsync());
                Assert.Equal(4, server.State.ConnectionLimiter.DistinctIps);
                Assert.Contains(server.State.Connections.All, c => c.ClientIp.Equals(IPAddress.Parse("192.0.2.44")));
                await viaProxy.CloseAsync();
            }

            Assert.Equal(3, server.State.Metrics.LimitRejections);
        }
        finally
        {
            foreach (RawClient client in open)
            {
                await client.DisposeAsync();
            }
        }

        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_a_remote_client_is_not_loopback_so_it_may_not_publish()
    {
        // The proxy runs on the same host (a loopback peer), but the client behind it is remote: loopback-only
        // rights such as publishing, and the publish rate limit, must go by the client's address, not the proxy's.
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.TrustedProxies = ["127.0.0.1"];
            o.Limits.MaxMessagesPerWindow = 3;
            o.Limits.MessageWindow = TimeSpan.FromMinutes(1);
            o.Limits.MaxRateLimitErrors = 0;
        });
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "price:SOL");
        await using TestClient remote = await ConnectWithHeaderAsync(server, "203.0.113.9");
        await using TestClient local = await ConnectWithHeaderAsync(server, "127.0.0.1");

        await remote.SendAsync("""{"type":"publish","channel":"price:SOL","data":666,"id":1}""");
        System.Text.Json.JsonElement error = await remote.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());
        Assert.Equal(1, error.GetProperty("id").GetInt32());

        // Its publish attempts are ordinary messages for the rate limit (3 per window here).
        await remote.SendAsync("""{"type":"publish","channel":"price:SOL","data":666,"id":2}""");
        Assert.Equal("forbidden", (await remote.ReceiveTypeAsync("error")).GetProperty("code").GetString());
        await remote.SendAsync("""{"type":"publish","channel":"price:SOL","data":666,"id":3}""");
        Assert.Equal("forbidden", (await remote.ReceiveTypeAsync("error")).GetProperty("code").GetString());
        await remote.SendAsync("""{"type":"publish","channel":"price:SOL","data":666,"id":4}""");
        Assert.Equal("rate_limited", (await remote.ReceiveTypeAsync("error")).GetProperty("code").GetString());

        // A feed handler on the proxy's host, forwarded as 127.0.0.1, still publishes, past the message limit.
        for (int i = 1; i <= 5; i++)
        {
            await local.SendAsync($$"""{"type":"publish","channel":"price:SOL","data":{{i}}}""");
            Assert.Equal($$"""{"type":"message","channel":"price:SOL","seq":{{i}},"data":{{i}}}""", await subscriber.ReceiveAsync());
        }
    }

    [Theory]
    [InlineData("203.0.113.9", true, HttpStatusCode.Forbidden)]
    [InlineData("127.0.0.1", true, HttpStatusCode.Accepted)]
    [InlineData("203.0.113.9", false, HttpStatusCode.Accepted)] // no trusted proxy: the header means nothing, the peer is loopback
    public async Task Behind_a_trusted_proxy_HTTP_publish_goes_by_the_forwarded_client(string forwardedFor, bool trustProxy, HttpStatusCode expected)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.TrustedProxies = trustProxy ? ["127.0.0.1"] : []);
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "price:SOL");
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.HttpUri, "/api/publish"))
        {
            Content = new StringContent("""{"channel":"price:SOL","data":5}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Forwarded-For", forwardedFor);

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.Accepted)
        {
            Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":5}""", await subscriber.ReceiveAsync());
        }
        else
        {
            await subscriber.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
        }
    }

    [Fact]
    public async Task Without_a_trusted_proxy_X_Forwarded_For_is_ignored()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxConnectionsPerIp = 2);
        await using RawClient a = await ConnectForwardedAsync(server, "203.0.113.1", expectAccepted: true);
        await using RawClient b = await ConnectForwardedAsync(server, "203.0.113.2", expectAccepted: true);

        // Different forwarded IPs, but all three come from 127.0.0.1, which is all that counts.
        await using (await ConnectForwardedAsync(server, "203.0.113.3", expectAccepted: false))
        {
        }

        await using (TestClient c = await ConnectWithHeaderAsync(server, "203.0.113.4"))
        {
            await c.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
        }

        Assert.Equal(1, server.State.ConnectionLimiter.DistinctIps);
        Assert.All(server.State.Connections.All, c => Assert.Equal(IPAddress.Loopback, c.ClientIp));
    }

    [Fact]
    public async Task Limits_set_to_0_are_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxConnections = 0;
            o.Limits.MaxConnectionsPerIp = 0;
        });
        var clients = new List<RawClient>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                clients.Add(await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint));
            }

            await TestServer.WaitUntilAsync(() => server.State.ConnectionLimiter.Total == 20, "twenty connections to be counted");
            Assert.Equal(0, server.State.Metrics.LimitRejections);
            Assert.Equal(20, server.State.Connections.Count);
        }
        finally
        {
            foreach (RawClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    /// <summary>
    /// Raw upgrade with an X-Forwarded-For header. Accepted: the connection is checked to be open (a ping answered).
    /// Refused: the 101 is followed by close 1008 and the end of the connection.
    /// </summary>
    private static async Task<RawClient> ConnectForwardedAsync(TestServer server, string forwardedFor, bool expectAccepted)
    {
        RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        try
        {
            await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: $"X-Forwarded-For: {forwardedFor}\r\n"));
            Assert.Equal(101, (await client.ReadHttpResponseAsync()).StatusCode);
            if (expectAccepted)
            {
                await client.SendTextAsync("""{"type":"ping"}""");
                Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
            }
            else
            {
                RawFrame close = await client.ReadFrameAsync();
                Assert.Equal(WebSocketMessageType.Close, close.Type);
                Assert.Equal(CloseCode.PolicyViolation, close.CloseStatus);
                Assert.EndsWith("Too many connections from this IP", close.Text);
                Assert.Null(await client.ReadFrameOrEndAsync());
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    private static Task<TestClient> ConnectWithHeaderAsync(TestServer server, string forwardedFor) =>
        TestClient.ConnectAsync(server.WebSocketUri, options => options.SetRequestHeader("X-Forwarded-For", forwardedFor));
}
