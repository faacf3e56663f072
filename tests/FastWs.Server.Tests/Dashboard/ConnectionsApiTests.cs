using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Dashboard;

/// <summary>
/// <c>GET /api/connections</c> and <c>GET /api/connections/{id}</c> against a real server with real clients: what each
/// connection shows, the filters, paging, bad queries, the 404, and the same callers as for sending and closing.
/// </summary>
public sealed class ConnectionsApiTests
{
    [Fact]
    public async Task Each_connection_shows_its_subscriptions_traffic_errors_and_health()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient a = await server.ConnectAsync("subscribe=bench:a,bench:b");
        await using TestClient b = await server.ConnectAsync("subscribe=bench:a");
        string idA = (await a.WaitConnectedAsync())!;
        string idB = (await b.WaitConnectedAsync())!;
        await a.ReceiveTypeAsync("subscribed");
        await b.ReceiveTypeAsync("subscribed");

        for (int i = 0; i < 5; i++)
        {
            await server.Server.Publisher.PublishAsync("bench:a", Encoding.UTF8.GetBytes($$"""{"n":{{i}}}"""));
        }

        await server.Server.Publisher.PublishAsync("bench:b", """{"n":"b"}"""u8.ToArray());
        for (int i = 0; i < 6; i++)
        {
            await a.ReceiveTypeAsync("message");
        }

        const string bad = "{not json";
        await a.SendAsync(bad);
        await a.ReceiveTypeAsync("error");

        using var http = NewHttp();
        JsonElement list = await GetOkAsync(http, server, "/api/connections");
        Assert.Equal(2, list.GetProperty("total").GetInt32());
        Assert.Equal(0, list.GetProperty("offset").GetInt32());
        Assert.Equal(50, list.GetProperty("limit").GetInt32());
        JsonElement[] connections = [.. list.GetProperty("connections").EnumerateArray()];
        Assert.Equal([idA, idB], connections.Select(c => c.GetProperty("id").GetString()));

        JsonElement first = connections[0];
        Assert.Equal(2, first.GetProperty("subscriptionCount").GetInt32());
        Assert.Equal(["bench:a", "bench:b"], first.GetProperty("subscriptions").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(6, first.GetProperty("messagesOut").GetInt64());
        Assert.True(first.GetProperty("bytesOut").GetInt64() > 6 * 10, first.ToString());
        Assert.Equal(1, first.GetProperty("messagesIn").GetInt64());
        Assert.Equal(bad.Length, first.GetProperty("bytesIn").GetInt64());
        Assert.Equal(1, first.GetProperty("errors").GetInt64());
        Assert.Equal(0, first.GetProperty("messagesSkipped").GetInt64());
        Assert.Equal("127.0.0.1", first.GetProperty("ip").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("user").ValueKind);
        Assert.True(first.GetProperty("healthy").GetBoolean());
        Assert.Equal("ok", first.GetProperty("health").GetString());
        // The test server runs on the epoll transport (direct sends), which tells the unsent output; nothing waits here.
        Assert.Equal(0, first.GetProperty("unsentBytes").GetInt32());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("lastPongRttMs").ValueKind); // the default ping interval is 30 s
        DateTimeOffset connectedAt = first.GetProperty("connectedAt").GetDateTimeOffset();
        Assert.InRange(DateTimeOffset.UtcNow - connectedAt, TimeSpan.Zero, TestServer.DefaultTimeout * 2);

        Assert.Equal(5, connections[1].GetProperty("messagesOut").GetInt64());
        Assert.Equal(0, connections[1].GetProperty("errors").GetInt64());

        // By id: the same view.
        JsonElement one = await GetOkAsync(http, server, $"/api/connections/{idB}");
        Assert.Equal(idB, one.GetProperty("id").GetString());
        Assert.Equal(["bench:a"], one.GetProperty("subscriptions").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(5, one.GetProperty("messagesOut").GetInt64());
    }

    [Fact]
    public async Task Filters_by_user_ip_and_channel_and_pages_by_offset_or_page()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient alice = await server.ConnectAsync($"token={tokens.Create(TokenFactory.Alice)}&subscribe=bench:x,bench:shared");
        await using TestClient bob = await server.ConnectAsync($"token={tokens.Create(TokenFactory.Bob)}&subscribe=bench:shared");
        await using TestClient anonymous = await server.ConnectAsync("subscribe=bench:y");
        string[] ids = [(await alice.WaitConnectedAsync())!, (await bob.WaitConnectedAsync())!, (await anonymous.WaitConnectedAsync())!];
        foreach (TestClient client in new[] { alice, bob, anonymous })
        {
            await client.ReceiveTypeAsync("subscribed");
        }

        using var http = NewHttp();
        Assert.Equal([ids[0]], Ids(await GetOkAsync(http, server, "/api/connections?user=1aaa")));
        Assert.Equal([ids[1]], Ids(await GetOkAsync(http, server, $"/api/connections?user={TokenFactory.Bob.ToUpperInvariant()}")));
        Assert.Equal(TokenFactory.Alice, (await GetOkAsync(http, server, "/api/connections?user=1aaa")).GetProperty("connections")[0].GetProperty("user").GetString());
        Assert.Equal([ids[0], ids[1]], Ids(await GetOkAsync(http, server, "/api/connections?channel=bench:shared")));
        Assert.Equal([ids[0]], Ids(await GetOkAsync(http, server, "/api/connections?channel=X"))); // contains, ignoring case
        Assert.Equal(ids, Ids(await GetOkAsync(http, server, "/api/connections?ip=127.0.0.1")));
        Assert.Empty(Ids(await GetOkAsync(http, server, "/api/connections?ip=10.")));
        Assert.Equal([ids[1]], Ids(await GetOkAsync(http, server, "/api/connections?ip=127.0&user=0x2222&channel=shared")));
        Assert.Equal(ids, Ids(await GetOkAsync(http, server, "/api/connections?user=&channel="))); // empty filters: none

        JsonElement firstPage = await GetOkAsync(http, server, "/api/connections?limit=2");
        Assert.Equal(3, firstPage.GetProperty("total").GetInt32());
        Assert.Equal(ids[..2], Ids(firstPage));
        Assert.Equal([ids[2]], Ids(await GetOkAsync(http, server, "/api/connections?limit=2&offset=2")));
        Assert.Equal([ids[2]], Ids(await GetOkAsync(http, server, "/api/connections?limit=2&page=2")));
        JsonElement past = await GetOkAsync(http, server, "/api/connections?offset=10");
        Assert.Equal(3, past.GetProperty("total").GetInt32());
        Assert.Empty(Ids(past));
        JsonElement filteredPage = await GetOkAsync(http, server, "/api/connections?channel=shared&limit=1&page=2");
        Assert.Equal(2, filteredPage.GetProperty("total").GetInt32());
        Assert.Equal([ids[1]], Ids(filteredPage));

        // A connection that left is gone from the list.
        await anonymous.CloseAsync();
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 2, "the closed connection to leave");
        Assert.Equal(ids[..2], Ids(await GetOkAsync(http, server, "/api/connections")));
        await AssertProblemAsync(http, server, $"/api/connections/{ids[2]}", HttpStatusCode.NotFound, "No connection with this id");
    }

    [Theory]
    [InlineData("limit=0", "'limit' must be one whole number from 1 to 1000")]
    [InlineData("limit=1001", "'limit' must be one whole number from 1 to 1000")]
    [InlineData("limit=abc", "'limit' must be one whole number from 1 to 1000")]
    [InlineData("limit=1&limit=2", "'limit' must be one whole number from 1 to 1000")]
    [InlineData("offset=-1", "'offset' must be one whole number, at least 0")]
    [InlineData("offset=99999999999", "'offset' must be one whole number, at least 0")]
    [InlineData("page=0", "'page' must be one whole number, at least 1")]
    [InlineData("page=2&offset=5", "Give either 'offset' or 'page', not both")]
    [InlineData("page=2147483647&limit=1000", "'page' is too large")]
    [InlineData("user=a&user=b", "'user' must be given once, at most 256 characters")]
    public async Task A_bad_query_is_a_400_saying_what_is_wrong(string query, string detail)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = NewHttp();
        await AssertProblemAsync(http, server, "/api/connections?" + query, HttpStatusCode.BadRequest, detail);
    }

    [Fact]
    public async Task A_filter_over_256_characters_is_refused_and_the_server_keeps_serving()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await client.WaitConnectedAsync();
        using var http = NewHttp();
        await AssertProblemAsync(http, server, "/api/connections?channel=" + new string('c', 257), HttpStatusCode.BadRequest,
            "'channel' must be given once, at most 256 characters");
        Assert.Equal(0, (await GetOkAsync(http, server, "/api/connections?channel=" + new string('c', 256))).GetProperty("total").GetInt32());
        Assert.Single(Ids(await GetOkAsync(http, server, "/api/connections")));
    }

    [Theory]
    [InlineData("/api/connections/123456789-0")]
    [InlineData("/api/connections/nonsense")]
    [InlineData("/api/connections/-1--1")]
    public async Task An_unknown_id_is_a_404_problem(string path)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = NewHttp();
        await AssertProblemAsync(http, server, path, HttpStatusCode.NotFound, "No connection with this id");
    }

    [Fact]
    public async Task A_remote_caller_needs_a_token_with_the_connections_role_and_a_foreign_page_is_refused()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Limits.TrustedProxies = ["127.0.0.1"]; // the forwarded client below is then not on this host
        });
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;
        using var http = NewHttp();

        foreach (string path in new[] { "/api/connections", $"/api/connections/{id}", "/api/dashboard/events" })
        {
            using (HttpResponseMessage none = await SendAsync(http, Remote(Get(server, path))))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
                Assert.Equal("Bearer", none.Headers.WwwAuthenticate.ToString());
                Assert.Equal("application/problem+json", none.Content.Headers.ContentType?.MediaType);
                Assert.Contains("needs a local caller or a token with the role 'admin'", await none.Content.ReadAsStringAsync());
            }

            await AssertStatusAsync(http, Remote(Get(server, path), "not-a-token"), HttpStatusCode.Unauthorized);
            await AssertStatusAsync(http, Remote(Get(server, path), tokens.Create(roles: ["trader"])), HttpStatusCode.Forbidden);
            await AssertStatusAsync(http, Remote(Get(server, path), tokens.Create(roles: ["admin"])), HttpStatusCode.OK, headersOnly: true);

            // A page of another origin, even from this host, gets nothing.
            HttpRequestMessage foreign = Get(server, path);
            foreign.Headers.Add("Origin", "https://evil.example.net");
            await AssertStatusAsync(http, foreign, HttpStatusCode.Forbidden);
        }

        // The page itself holds no data: anyone may load it (it then asks for a token).
        using HttpResponseMessage page = await SendAsync(http, Remote(Get(server, "/")));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_client_that_does_not_read_shows_as_congested_with_its_unsent_bytes()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient slow = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint, receiveBufferSize: 4096);
        await slow.SendTextAsync("""{"type":"subscribe","channels":["bench:flood"]}""");
        await TestServer.WaitUntilAsync(() => server.State.Channels.TryGet("bench:flood", out var channel) && channel.SubscriberCount == 1, "the subscription");
        byte[] data = Encoding.UTF8.GetBytes($$"""{"pad":"{{new string('x', 2000)}}"}""");
        for (int i = 0; i < 2000 && server.State.Metrics.MessagesSkipped == 0; i++)
        {
            await server.Server.Publisher.PublishAsync("bench:flood", data);
            if (i % 50 == 49)
            {
                await Task.Delay(1);
            }
        }

        Assert.True(server.State.Metrics.MessagesSkipped > 0, "the client that does not read was never skipped");
        using var http = NewHttp();
        JsonElement view = (await GetOkAsync(http, server, "/api/connections")).GetProperty("connections")[0];
        Assert.Equal("congested", view.GetProperty("health").GetString());
        Assert.False(view.GetProperty("healthy").GetBoolean());
        Assert.True(view.GetProperty("unsentBytes").GetInt32() > 64 * 1024 / 2, view.ToString());
        Assert.True(view.GetProperty("messagesSkipped").GetInt64() > 0, view.ToString());
    }

    [Fact]
    public async Task The_last_pong_round_trip_is_shown_once_the_client_answered_a_heartbeat_ping()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Heartbeat.PingInterval = TimeSpan.FromMilliseconds(300);
            o.Heartbeat.PongTimeout = TimeSpan.FromMilliseconds(250);
        });
        await using TestClient client = await server.ConnectAsync(); // ClientWebSocket answers pings by itself while it receives
        string id = (await client.WaitConnectedAsync())!;
        using var http = NewHttp();
        JsonElement view = default;
        for (var watch = System.Diagnostics.Stopwatch.StartNew(); watch.Elapsed < TestServer.DefaultTimeout; await Task.Delay(50))
        {
            view = await GetOkAsync(http, server, $"/api/connections/{id}");
            if (view.GetProperty("lastPongRttMs").ValueKind == JsonValueKind.Number)
            {
                break;
            }
        }

        Assert.Equal(JsonValueKind.Number, view.GetProperty("lastPongRttMs").ValueKind);
        Assert.InRange(view.GetProperty("lastPongRttMs").GetDouble(), 0.0, 250.0);
        Assert.True(view.GetProperty("healthy").GetBoolean(), view.ToString());
    }

    private static HttpClient NewHttp() => new() { Timeout = TestServer.DefaultTimeout };

    private static string[] Ids(JsonElement page) => [.. page.GetProperty("connections").EnumerateArray().Select(c => c.GetProperty("id").GetString()!)];

    private static HttpRequestMessage Get(TestServer server, string path) => new(HttpMethod.Get, new Uri(server.HttpUri, path));

    private static HttpRequestMessage Remote(HttpRequestMessage request, string? token = null)
    {
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request) =>
        http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

    internal static async Task<JsonElement> GetOkAsync(HttpClient http, TestServer server, string path)
    {
        using HttpResponseMessage response = await http.GetAsync(new Uri(server.HttpUri, path));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    private static async Task AssertProblemAsync(HttpClient http, TestServer server, string path, HttpStatusCode status, string detail)
    {
        using HttpResponseMessage response = await http.GetAsync(new Uri(server.HttpUri, path));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{path}: expected {(int)status}, got {(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(detail, problem.RootElement.GetProperty("detail").GetString());
    }

    /// <param name="headersOnly">For the event stream, which does not end: the status is all there is to check.</param>
    private static async Task AssertStatusAsync(HttpClient http, HttpRequestMessage request, HttpStatusCode expected, bool headersOnly = false)
    {
        using (request)
        {
            using HttpResponseMessage response = await SendAsync(http, request);
            string body = headersOnly ? "" : await response.Content.ReadAsStringAsync();
            Assert.True(expected == response.StatusCode, $"{request.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode} {body}");
        }
    }
}
