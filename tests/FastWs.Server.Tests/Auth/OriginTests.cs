using System.Net;
using System.Net.WebSockets;
using System.Text;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Auth;

/// <summary>AllowedOrigins: listed origins and wildcards connect, others get 403, no Origin is a non-browser client; and subprotocols.</summary>
public sealed class OriginTests
{
    [Theory]
    [InlineData("https://app.example.com", true)]
    [InlineData("https://APP.example.com", true)]
    [InlineData("https://desk.trusted.io", true)]
    [InlineData("http://desk.trusted.io", true)]
    [InlineData("https://a.b.trusted.io", true)]
    [InlineData("https://trusted.io", false)]
    [InlineData("https://app.example.com:8443", false)]
    [InlineData("https://evil.example", false)]
    [InlineData("https://app.example.com.evil.example", false)]
    [InlineData("null", false)]
    [InlineData(null, true)]
    public async Task Only_listed_origins_may_upgrade(string? origin, bool allowed)
    {
        await using TestServer server = await TestServer.StartAsync(o => o.AllowedOrigins = ["https://app.example.com", "*.trusted.io"]);
        await using RawClient raw = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string extra = origin is null ? string.Empty : $"Origin: {origin}\r\n";

        await raw.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: extra));
        RawHttpResponse response = await raw.ReadHttpResponseAsync();

        Assert.Equal(allowed ? 101 : 403, response.StatusCode);
        if (!allowed)
        {
            Assert.Contains("Origin not allowed", response.Body, StringComparison.Ordinal);
            Assert.Equal(1, server.State.Metrics.OriginRejections);
            // The failed handshake is counted once its answer has gone out, so it may trail the response by a moment.
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            while (server.State.Metrics.HandshakeFailureCount(Metrics.HandshakeFailure.OriginRejected) == 0)
            {
                await Task.Delay(10, timeout.Token);
            }

            Assert.Equal(1, server.State.Metrics.HandshakeFailureCount(Metrics.HandshakeFailure.OriginRejected));
        }
    }

    [Fact]
    public async Task Require_origin_refuses_clients_without_one()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.AllowedOrigins = ["https://app.example.com"];
            o.RequireOrigin = true;
        });

        var refused = await Assert.ThrowsAsync<WebSocketException>(() => TestClient.ConnectAsync(server.WebSocketUri));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        await using TestClient browser = await TestClient.ConnectAsync(server.WebSocketUri, o => o.SetRequestHeader("Origin", "https://app.example.com"));
        Assert.Equal(WebSocketState.Open, browser.Socket.State);
    }

    [Fact]
    public async Task A_listed_page_on_the_servers_host_may_publish_to_loopback_namespaces_an_unlisted_one_may_not()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.AllowedOrigins = ["https://desk.example.com"]);
        await using TestClient listed = await TestClient.ConnectAsync(server.WebSocketUri, o => o.SetRequestHeader("Origin", "https://desk.example.com"));
        await listed.SendAsync("""{"type":"publish","channel":"bench:x","data":1,"id":1}""");
        await listed.ReceiveTypeAsync("published");

        await using TestServer open = await TestServer.StartAsync();
        await using TestClient page = await TestClient.ConnectAsync(open.WebSocketUri, o => o.SetRequestHeader("Origin", "https://desk.example.com"));
        await page.SendAsync("""{"type":"publish","channel":"bench:x","data":1,"id":1}""");
        Assert.Equal("forbidden", (await page.ReceiveTypeAsync("error")).GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_http_api_refuses_cross_origin_requests_and_accepts_listed_ones()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.AllowedOrigins = ["https://desk.example.com"]);
        using var http = new HttpClient { BaseAddress = server.HttpUri };

        foreach ((string origin, HttpStatusCode expected) in new[] { ("https://evil.example", HttpStatusCode.Forbidden), ("https://desk.example.com", HttpStatusCode.Accepted) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/publish")
            {
                Content = new StringContent("""{"channel":"bench:x","data":1}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("Origin", origin);
            using HttpResponseMessage response = await http.SendAsync(request);
            Assert.Equal(expected, response.StatusCode);
        }

        Assert.Equal(1, server.State.Metrics.OriginRejections);
    }

    [Fact]
    public async Task A_wildcard_for_everything_is_refused_at_start()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => TestServer.StartAsync(o => o.AllowedOrigins = ["*"]));
        Assert.Contains("FastWs:AllowedOrigins", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fastws.v1", "fastws.v1")]
    [InlineData("graphql-ws, fastws.v1", "fastws.v1")]
    [InlineData("fastws.v1, bearer.abc", "fastws.v1")]
    [InlineData("graphql-ws", null)]
    [InlineData(null, null)]
    public async Task Subprotocols_fastws_v1_is_chosen_when_offered_and_nothing_else_is_echoed(string? offered, string? chosen)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient raw = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string extra = offered is null ? string.Empty : $"Sec-WebSocket-Protocol: {offered}\r\n";

        await raw.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: extra));
        RawHttpResponse response = await raw.ReadHttpResponseAsync();

        Assert.Equal(101, response.StatusCode);
        Assert.Equal(chosen, response.Header("Sec-WebSocket-Protocol"));
    }

    [Fact]
    public async Task A_dotnet_client_offering_only_unknown_subprotocols_is_declined_without_one_and_connects()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o => o.AddSubProtocol("graphql-ws"));

        Assert.Null(client.Socket.SubProtocol);
        Assert.True((await AuthKit.TrySubscribeAsync(client, "market_data")).Subscribed);
    }
}
