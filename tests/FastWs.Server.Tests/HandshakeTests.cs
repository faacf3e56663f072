using System.Net.WebSockets;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>The opening handshake: 101 for a good upgrade, a short precise HTTP error (and a closed connection) otherwise.</summary>
public sealed class HandshakeTests
{
    [Fact]
    public async Task ClientWebSocket_connects_and_gets_101()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        Assert.Equal(WebSocketState.Open, client.Socket.State);
        Assert.Equal(101, (int?)client.Socket.HttpStatusCode);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the connection to be registered");

        // The connection is usable straight away.
        await client.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Raw_upgrade_gets_101_with_the_right_accept_key()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string key = RawClient.NewKey();

        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", key));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(101, response.StatusCode);
        Assert.Equal("websocket", response.Header("Upgrade"), ignoreCase: true);
        Assert.Equal("Upgrade", response.Header("Connection"), ignoreCase: true);
        Assert.Equal(Protocol.Handshake.HandshakeResponse.ComputeAcceptKey(key), response.Header("Sec-WebSocket-Accept"));
    }

    [Fact]
    public async Task Wrong_path_gets_404_and_the_connection_is_closed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/not-ws", RawClient.NewKey()));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(404, response.StatusCode);
        Assert.Equal(0, await client.ReadToEndAsync());
        Assert.Equal(0, server.State.Connections.Count);
    }

    [Fact]
    public async Task ClientWebSocket_on_wrong_path_fails_to_connect()
    {
        await using TestServer server = await TestServer.StartAsync();
        var uri = new UriBuilder(server.WebSocketUri) { Path = "/elsewhere" }.Uri;

        await Assert.ThrowsAsync<WebSocketException>(() => TestClient.ConnectAsync(uri));
    }

    [Fact]
    public async Task Plain_GET_without_upgrade_gets_a_short_426_and_the_connection_is_closed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync($"GET /ws HTTP/1.1\r\nHost: {server.WebSocketEndPoint}\r\nAccept: */*\r\n\r\n");
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(426, response.StatusCode);
        Assert.Equal("13", response.Header("Sec-WebSocket-Version"));
        Assert.True(response.Head.Length + response.Body.Length < 1024, $"Response should be short: {response}");
        Assert.Equal(0, await client.ReadToEndAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Bad_key_gets_400_and_the_connection_is_closed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", "not-a-base64-key"));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(400, response.StatusCode);
        Assert.Contains("Sec-WebSocket-Key", response.Body, StringComparison.Ordinal);
        Assert.Equal(0, await client.ReadToEndAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Version_8_gets_426_naming_version_13()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), version: "8"));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(426, response.StatusCode);
        Assert.Equal("13", response.Header("Sec-WebSocket-Version"));
        Assert.Equal(0, await client.ReadToEndAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, server.State.Connections.Count);
    }

    [Fact]
    public async Task Oversized_request_head_gets_431()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.MaxHandshakeHeaderBytes = 1024);
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        string padding = $"X-Padding: {new string('a', 2000)}\r\n";
        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey(), extraHeaders: padding));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(431, response.StatusCode);
        Assert.Equal(0, await client.ReadToEndAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Frames_sent_in_the_same_packet_as_the_request_are_handled()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        string key = RawClient.NewKey();

        byte[] request = System.Text.Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", key));
        byte[] subscribe = RawClient.MaskedText("""{"type":"subscribe","channels":["price:SOL"],"id":1}""");
        byte[] ping = RawClient.MaskedText("""{"type":"ping"}""");
        await client.SendAsync(request.Concat(subscribe).Concat(ping).ToArray());

        RawHttpResponse response = await client.ReadHttpResponseAsync();
        Assert.Equal(101, response.StatusCode);
        Acks.AssertSubscribed(await client.ReadTextAsync(), ["price:SOL"], "1");
        Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
    }

    [Fact]
    public async Task Request_trickled_byte_by_byte_is_accepted()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
        byte[] request = System.Text.Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));

        foreach (byte b in request)
        {
            await client.SendAsync(new[] { b });
        }

        Assert.Equal(101, (await client.ReadHttpResponseAsync()).StatusCode);
        await client.SendFrameAsync(WebSocketOpcode.Text, """{"type":"ping"}"""u8);
        Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
    }

    [Fact]
    public async Task Client_that_never_finishes_the_request_is_dropped_after_the_handshake_timeout()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(500));
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync("GET /ws HTTP/1.1\r\nHost: x\r\n");

        await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
    }
}
