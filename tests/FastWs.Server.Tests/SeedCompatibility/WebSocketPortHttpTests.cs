using System.Net;
using System.Text.Json;
using FastWs.Server.Tests.Protection;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.SeedCompatibility;

/// <summary>
/// Issue 17: <c>GET /ws/stats</c>, <c>/healthz</c> and <c>/readyz</c> without an upgrade are answered on the WebSocket
/// port as on the HTTP port; upgrades on <c>/ws</c> and the errors for every other non-upgrade request stay as they were.
/// </summary>
public sealed class WebSocketPortHttpTests
{
    private static readonly HttpClient Http = new() { Timeout = TestServer.DefaultTimeout };

    private static Uri HttpOnWebSocketPort(TestServer server, string path) => new($"http://{server.WebSocketEndPoint}{path}");

    private static async Task<RawHttpResponse> RawGetAsync(TestServer server, string method, string target)
    {
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        await client.SendAsync($"{method} {target} HTTP/1.1\r\nHost: {server.WebSocketEndPoint}\r\nAccept: */*\r\n\r\n");
        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(0, await client.ReadToEndAsync()); // then the connection is closed
        return response;
    }

    private static async Task<(HttpStatusCode Status, string? ContentType, string Body)> HttpGetAsync(Uri uri)
    {
        using HttpResponseMessage response = await Http.GetAsync(uri);
        return (response.StatusCode, response.Content.Headers.ContentType?.ToString(), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Stats_on_the_WebSocket_port_match_the_HTTP_port()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync("subscribe=price:SOL");
        await client.ReceiveTypeAsync("subscribed");

        (HttpStatusCode status, string? contentType, string body) = await HttpGetAsync(new Uri(server.HttpUri, "/ws/stats"));
        Assert.Equal(HttpStatusCode.OK, status);

        RawHttpResponse raw = await RawGetAsync(server, "GET", "/ws/stats");
        Assert.Equal(200, raw.StatusCode);
        Assert.Equal(contentType, raw.Header("Content-Type"));
        Assert.Equal("close", raw.Header("Connection"), ignoreCase: true);
        using (JsonDocument stats = JsonDocument.Parse(raw.Body))
        {
            Assert.Equal(1, stats.RootElement.GetProperty("totalConnections").GetInt32());
            Assert.Equal(1, stats.RootElement.GetProperty("connectionsPerSlab").GetProperty("SOL").GetInt32());

            // The same document as the HTTP port's (rates and memory move; the shape does not).
            using JsonDocument fromHttp = JsonDocument.Parse(body);
            Assert.Equal(
                fromHttp.RootElement.EnumerateObject().Select(p => p.Name),
                stats.RootElement.EnumerateObject().Select(p => p.Name));
        }

        (status, string? wsContentType, body) = await HttpGetAsync(HttpOnWebSocketPort(server, "/ws/stats?pretty=1"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(contentType, wsContentType);
        using (JsonDocument stats = JsonDocument.Parse(body))
        {
            Assert.Equal(1, stats.RootElement.GetProperty("totalConnections").GetInt32());
        }

        // Served, counted as such, and not as failed handshakes; the WebSocket path next to it still upgrades.
        Assert.Equal(2, server.State.Metrics.PlainHttpRequests);
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal);
        await using TestClient another = await server.ConnectAsync();
        await another.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await another.ReceiveAsync());
        Assert.Equal(2, server.State.Metrics.ConnectionsActive);
        JsonElement counters = (await ProtectionKit.StatsAsync(server)).GetProperty("counters");
        Assert.Equal(2, counters.GetProperty("plainHttpRequests").GetInt64());
        Assert.Equal(0, counters.GetProperty("handshakeFailures").GetInt64());
    }

    [Theory]
    [InlineData("/healthz", "ok\n")]
    [InlineData("/readyz", "ready\n")]
    public async Task Health_on_the_WebSocket_port_matches_the_HTTP_port(string path, string expected)
    {
        await using TestServer server = await TestServer.StartAsync();

        (HttpStatusCode status, string? contentType, string body) = await HttpGetAsync(new Uri(server.HttpUri, path));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, body);

        RawHttpResponse raw = await RawGetAsync(server, "GET", path);
        Assert.Equal(200, raw.StatusCode);
        Assert.Equal(contentType, raw.Header("Content-Type"));
        Assert.Equal(expected, raw.Body);

        (HttpStatusCode wsStatus, string? wsContentType, string wsBody) = await HttpGetAsync(HttpOnWebSocketPort(server, path));
        Assert.Equal(HttpStatusCode.OK, wsStatus);
        Assert.Equal(contentType, wsContentType);
        Assert.Equal(expected, wsBody);
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal);
    }

    [Theory]
    [InlineData("GET", "/ws", 426)] // the WebSocket path itself, no upgrade
    [InlineData("GET", "/ws/statistics", 426)]
    [InlineData("GET", "/metrics", 426)] // only stats and health are served on this port
    [InlineData("GET", "/", 426)]
    [InlineData("HEAD", "/ws/stats", 400)]
    [InlineData("POST", "/healthz", 400)]
    public async Task Other_requests_without_an_upgrade_keep_their_errors(string method, string target, int expected)
    {
        await using TestServer server = await TestServer.StartAsync();

        RawHttpResponse raw = await RawGetAsync(server, method, target);

        Assert.Equal(expected, raw.StatusCode);
        Assert.Equal(0, server.State.Metrics.PlainHttpRequests);
        Assert.Equal(1, server.State.Metrics.HandshakeFailuresTotal);
    }

    [Fact]
    public async Task An_upgrade_of_the_stats_path_is_still_a_404_and_HTTP_1_0_still_a_400()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws/stats", RawClient.NewKey()));
            Assert.Equal(404, (await client.ReadHttpResponseAsync()).StatusCode);
        }

        await using (RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await client.SendAsync($"GET /ws/stats HTTP/1.0\r\nHost: {server.WebSocketEndPoint}\r\n\r\n");
            Assert.Equal(400, (await client.ReadHttpResponseAsync()).StatusCode);
        }

        Assert.Equal(0, server.State.Metrics.PlainHttpRequests);
    }

    [Fact]
    public async Task With_Path_slash_stats_and_health_are_still_served_on_the_WebSocket_port()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Path = "/");

        (HttpStatusCode status, _, string body) = await HttpGetAsync(HttpOnWebSocketPort(server, "/ws/stats"));
        Assert.Equal(HttpStatusCode.OK, status);
        using (JsonDocument stats = JsonDocument.Parse(body))
        {
            Assert.True(stats.RootElement.TryGetProperty("totalConnections", out _));
        }

        Assert.Equal((HttpStatusCode.OK, "ready\n"), await ProtectionKit.GetAsync(HttpOnWebSocketPort(server, "/readyz")));
        Assert.Equal(426, (await RawGetAsync(server, "GET", "/")).StatusCode);
    }
}
