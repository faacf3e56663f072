using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FastWs.Server.Connections;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// Connections by id: the <c>connected</c> message first, then sending to and closing one connection by its id, in
/// process and over <c>/api/connections/{id}/send</c> and <c>/close</c>, with the HTTP API's access rules.
/// </summary>
public sealed class ConnectionControlTests
{
    [Fact]
    public async Task The_first_message_is_connected_with_an_id_that_differs_per_connection()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient first = await server.ConnectAsync();
        await using TestClient second = await server.ConnectAsync();

        string? id1 = await first.WaitConnectedAsync();
        string? id2 = await second.WaitConnectedAsync();

        Assert.NotNull(id1);
        Assert.NotNull(id2);
        Assert.NotEqual(id1, id2);
        using JsonDocument connected = JsonDocument.Parse(first.ConnectedMessage!);
        Assert.Equal("connected", connected.RootElement.GetProperty("type").GetString());
        Assert.Equal("fastws.v1", connected.RootElement.GetProperty("protocol").GetString());
        Assert.False(connected.RootElement.TryGetProperty("user", out _));
    }

    [Fact]
    public async Task Connected_comes_before_the_ack_of_URL_subscriptions()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient raw = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint, "/ws?subscribe=price:SOL");

        string ack = await raw.ReadTextAsync();

        Assert.NotNull(raw.ConnectedMessage); // it was the very first frame, before the ack
        Assert.Contains("\"connectionId\":\"", raw.ConnectedMessage, StringComparison.Ordinal);
        Assert.Contains("\"type\":\"subscribed\"", ack, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_authenticated_connection_is_told_its_user()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient client = await Auth.AuthKit.ConnectWithHeaderAsync(server, tokens.Create());

        Assert.NotNull(await client.WaitConnectedAsync());
        using JsonDocument connected = JsonDocument.Parse(client.ConnectedMessage!);
        Assert.Equal(TokenFactory.Alice, connected.RootElement.GetProperty("user").GetString());
    }

    [Fact]
    public async Task In_process_send_reaches_only_that_connection_as_given()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient target = await server.ConnectAsync();
        await using TestClient other = await server.ConnectAsync();
        string id = (await target.WaitConnectedAsync())!;
        await other.WaitConnectedAsync();

        ConnectionCommandResult result = server.Server.Connections.SendToConnection(id, """{"type":"notice","n": [1, 2]}"""u8);

        Assert.Equal(ConnectionCommandResult.Sent, result);
        Assert.Equal("""{"type":"notice","n": [1, 2]}""", await target.ReceiveAsync());
        await other.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
        Assert.Throws<ArgumentException>(() => server.Server.Connections.SendToConnection(id, "{\"a\":1} 2"u8));
        Assert.Throws<ArgumentException>(() => server.Server.Connections.SendToConnection(id, "not json"u8));
        Assert.Equal(ConnectionCommandResult.NotFound, server.Server.Connections.SendToConnection("999999-0", "1"u8));
        Assert.Equal(ConnectionCommandResult.NotFound, server.Server.Connections.SendToConnection("nonsense", "1"u8));
    }

    [Fact]
    public async Task In_process_close_sends_the_code_and_reason_and_the_id_is_then_gone()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;

        Assert.Throws<ArgumentException>(() => server.Server.Connections.CloseConnection(id, 1006, "no"));
        Assert.Throws<ArgumentException>(() => server.Server.Connections.CloseConnection(id, 4000, new string('x', 124)));
        ConnectionCommandResult result = server.Server.Connections.CloseConnection(id, 4000, "kicked by admin");

        Assert.Equal(ConnectionCommandResult.Sent, result);
        await client.AssertClosedWithAsync((WebSocketCloseStatus)4000);
        Assert.Equal("kicked by admin", client.CloseDescription);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Find(id) is null, "the connection to leave the registry");
        Assert.Equal(ConnectionCommandResult.NotFound, server.Server.Connections.SendToConnection(id, "1"u8));
    }

    [Fact]
    public async Task A_reused_slot_does_not_answer_to_the_old_id()
    {
        await using TestServer server = await TestServer.StartAsync();
        string oldId;
        await using (TestClient first = await server.ConnectAsync())
        {
            oldId = (await first.WaitConnectedAsync())!;
            await first.CloseAsync();
        }

        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "the first connection to leave");
        await using TestClient second = await server.ConnectAsync();
        string newId = (await second.WaitConnectedAsync())!;

        Assert.NotEqual(oldId, newId);
        Assert.Equal(ConnectionCommandResult.NotFound, server.Server.Connections.SendToConnection(oldId, "1"u8));
        Assert.Equal(ConnectionCommandResult.Sent, server.Server.Connections.SendToConnection(newId, "1"u8));
        Assert.Equal("1", await second.ReceiveAsync());
    }

    [Fact]
    public async Task HTTP_send_delivers_the_body_verbatim_with_202()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };

        using HttpResponseMessage response = await http.SendAsync(Post(server, $"/api/connections/{id}/send", """{ "type" : "intent_filled", "id": 7 }"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("""{"sent":true}""", await response.Content.ReadAsStringAsync());
        Assert.Equal("""{ "type" : "intent_filled", "id": 7 }""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task HTTP_refusals_unknown_id_non_JSON_bad_JSON_bad_close_and_foreign_Origin()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.AllowedOrigins = ["https://app.example.com"]);
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };

        await AssertStatus(http, Post(server, "/api/connections/123456789-0/send", "1"), HttpStatusCode.NotFound);
        await AssertStatus(http, Post(server, "/api/connections/nonsense/close", """{"code":4000}"""), HttpStatusCode.NotFound);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/send", "1", "text/plain"), HttpStatusCode.UnsupportedMediaType);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/send", "{\"a\":"), HttpStatusCode.BadRequest);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/close", """{"code":1006}"""), HttpStatusCode.BadRequest);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/close", """{"code":70000}"""), HttpStatusCode.BadRequest);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/close", $$"""{"code":4000,"reason":"{{new string('x', 124)}}"}"""), HttpStatusCode.BadRequest);
        HttpRequestMessage foreign = Post(server, $"/api/connections/{id}/send", "1");
        foreign.Headers.Add("Origin", "https://evil.example.net");
        await AssertStatus(http, foreign, HttpStatusCode.Forbidden);
        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));

        // A listed Origin from this host is a local caller, as for /api/publish.
        HttpRequestMessage listed = Post(server, $"/api/connections/{id}/close", """{"code":4000,"reason":"bye"}""");
        listed.Headers.Add("Origin", "https://app.example.com");
        await AssertStatus(http, listed, HttpStatusCode.Accepted);
        await client.AssertClosedWithAsync((WebSocketCloseStatus)4000);
        Assert.Equal("bye", client.CloseDescription);
    }

    [Fact]
    public async Task HTTP_close_to_a_closing_connection_is_409()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient raw = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        string id = await ConnectionIdOf(server);
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };

        await AssertStatus(http, Post(server, $"/api/connections/{id}/close", """{"code":1000}"""), HttpStatusCode.Accepted);
        // The raw client does not answer the close, so the connection stays, closing.
        await AssertStatus(http, Post(server, $"/api/connections/{id}/close", """{"code":4000}"""), HttpStatusCode.Conflict);
        await AssertStatus(http, Post(server, $"/api/connections/{id}/send", "1"), HttpStatusCode.Conflict);
        RawFrame close = await raw.ReadFrameAsync();
        Assert.Equal(FastWs.Protocol.Frames.WebSocketMessageType.Close, close.Type);
        Assert.Equal(FastWs.Protocol.Frames.CloseCode.NormalClosure, close.CloseStatus);
    }

    [Fact]
    public async Task A_remote_caller_needs_a_token_with_the_connections_role()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Api.ConnectionsRole = "support";
            o.Limits.TrustedProxies = ["127.0.0.1"]; // the forwarded client below is then not on this host
        });
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };

        await AssertStatus(http, Remote(Post(server, $"/api/connections/{id}/send", "1")), HttpStatusCode.Unauthorized);
        await AssertStatus(http, Remote(Post(server, $"/api/connections/{id}/send", "1"), tokens.Create(roles: ["admin"])), HttpStatusCode.Forbidden);
        await AssertStatus(http, Remote(Post(server, $"/api/connections/{id}/send", "1"), "not-a-token"), HttpStatusCode.Unauthorized);
        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));

        await AssertStatus(http, Remote(Post(server, $"/api/connections/{id}/send", "\"hi\""), tokens.Create(roles: ["support"])), HttpStatusCode.Accepted);
        Assert.Equal("\"hi\"", await client.ReceiveAsync());
        await AssertStatus(http, Remote(Post(server, $"/api/connections/{id}/close", """{"code":4003,"reason":"support"}"""), tokens.Create(roles: ["support"])), HttpStatusCode.Accepted);
        await client.AssertClosedWithAsync((WebSocketCloseStatus)4003);
    }

    private static HttpRequestMessage Post(TestServer server, string path, string body, string contentType = "application/json") =>
        new(HttpMethod.Post, new Uri(server.HttpUri, path))
        {
            Content = new StringContent(body, Encoding.UTF8, contentType),
        };

    private static HttpRequestMessage Remote(HttpRequestMessage request, string? token = null)
    {
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    private static async Task AssertStatus(HttpClient http, HttpRequestMessage request, HttpStatusCode expected)
    {
        using (request)
        {
            using HttpResponseMessage response = await http.SendAsync(request);
            Assert.True(expected == response.StatusCode, $"{request.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The id of the only registered connection.</summary>
    private static async Task<string> ConnectionIdOf(TestServer server)
    {
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the connection to register");
        return server.State.Connections.All.Single().ConnectionId!;
    }
}
