using FastWs.Server.Auth;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>A bad message gets an error reply with the right code, and the connection stays fully usable.</summary>
public sealed class ErrorTests
{
    [Theory]
    [InlineData("{not json")]
    [InlineData("")]
    [InlineData("[1,2,3]")]
    [InlineData("\"subscribe\"")]
    [InlineData("""{"type":"subscribe","channels":["price:SOL"]""")]
    [InlineData("""{"type":"subscribe","channels":["price:SOL"]} trailing""")]
    [InlineData("""{"channels":["price:SOL"]}""")]
    [InlineData("""{"type":7}""")]
    [InlineData("""{"type":"subscribe"}""")]
    [InlineData("""{"type":"subscribe","channels":"price:SOL"}""")]
    [InlineData("""{"type":"subscribe","channels":["price:SOL"],"id":{"x":1}}""")]
    [InlineData("""{"type":"publish","data":1}""")]
    [InlineData("""{"type":"publish","channel":"price:SOL"}""")]
    public async Task Bad_request_gets_bad_request_and_the_connection_stays_open(string message)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync(message);

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        await AssertStillWorks(server, client);
    }

    [Fact]
    public async Task Unknown_type_gets_bad_request_with_the_id()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe_all","channels":["price:SOL"],"id":11}""");

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Equal(11, error.GetProperty("id").GetInt32());
        await AssertStillWorks(server, client);
    }

    [Theory]
    [InlineData("nope:SOL")]
    [InlineData("unknown")]
    [InlineData("price:SOL!")]
    [InlineData("price:")]
    [InlineData(":SOL")]
    [InlineData("price:S O L")]
    [InlineData("pr\u00efce:SOL")]
    public async Task Invalid_channel_gets_invalid_channel_naming_it(string channel)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync(JsonSerializer.Serialize(new { type = "subscribe", channels = new[] { channel, "trades:SOL" }, id = 5 }));

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_channel", error.GetProperty("code").GetString());
        Assert.Equal(channel, error.GetProperty("channel").GetString());
        Assert.Equal(5, error.GetProperty("id").GetInt32());

        // The valid channel in the same request is still subscribed.
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["trades:SOL"], SubscriptionTests.Channels(ack));
        Assert.False(server.State.Channels.TryGet(channel, out _));
        await AssertStillWorks(server, client);
    }

    [Fact]
    public async Task Too_long_channel_name_gets_invalid_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        string channel = "price:" + new string('x', 200);

        await client.SendAsync(JsonSerializer.Serialize(new { type = "subscribe", channels = new[] { channel } }));

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_channel", error.GetProperty("code").GetString());
        await client.ReceiveTypeAsync("subscribed");
        await AssertStillWorks(server, client);
    }

    [Fact]
    public async Task Publish_to_an_unknown_namespace_gets_invalid_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"publish","channel":"nope:SOL","data":{"x":1},"id":"p1"}""");

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_channel", error.GetProperty("code").GetString());
        Assert.Equal("nope:SOL", error.GetProperty("channel").GetString());
        Assert.Equal("p1", error.GetProperty("id").GetString());
        await AssertStillWorks(server, client);
    }

    [Fact]
    public async Task Publish_where_the_namespace_forbids_it_gets_forbidden_and_nothing_is_delivered()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
            o.Namespaces["locked"] = new NamespaceOptions { Publish = AccessPolicy.Nobody });
        await using TestClient subscriber = await server.ConnectAsync();
        await using TestClient publisher = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "locked:feed");

        await publisher.SendAsync("""{"type":"publish","channel":"locked:feed","data":{"x":1},"id":9}""");

        JsonElement error = await publisher.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());
        Assert.Equal("locked:feed", error.GetProperty("channel").GetString());
        Assert.Equal(9, error.GetProperty("id").GetInt32());
        await subscriber.AssertNoMessageAsync(TimeSpan.FromMilliseconds(300));

        // The in-process API is not subject to connection policies.
        await server.Server.Publisher.PublishAsync("locked:feed", "1");
        Assert.Equal("""{"type":"message","channel":"locked:feed","seq":1,"data":1}""", await subscriber.ReceiveAsync());
        await AssertStillWorks(server, publisher);
    }

    [Fact]
    public async Task Subscribe_where_the_namespace_forbids_it_gets_forbidden()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
            o.Namespaces["secret"] = new NamespaceOptions { Subscribe = AccessPolicy.Nobody });
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","channels":["secret:x"]}""");

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());
        Assert.Equal("secret:x", error.GetProperty("channel").GetString());
        Assert.Empty(SubscriptionTests.Channels(await client.ReceiveTypeAsync("subscribed")));
        Assert.Equal(0, server.State.Channels.Count);
        await AssertStillWorks(server, client);
    }

    [Fact]
    public async Task Many_errors_in_a_row_do_not_wear_the_connection_down()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        var expected = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            bool garbage = i % 2 == 0;
            await client.SendAsync(garbage ? "garbage" : """{"type":"subscribe","channels":["nope:1"]}""");
            expected.AddRange(garbage ? ["bad_request"] : ["invalid_channel", "subscribed"]);
        }

        var actual = new List<string>();
        foreach (string _ in expected)
        {
            JsonElement reply = await client.ReceiveJsonAsync();
            actual.Add(reply.TryGetProperty("code", out JsonElement code) ? code.GetString()! : reply.GetProperty("type").GetString()!);
        }

        Assert.Equal(expected, actual);
        await AssertStillWorks(server, client);
    }

    /// <summary>The connection still subscribes, receives data and answers pings after an error.</summary>
    private static async Task AssertStillWorks(TestServer server, TestClient client)
    {
        await client.SendAsync("""{"type":"subscribe","channels":["system_alerts"],"id":"after"}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["system_alerts"], SubscriptionTests.Channels(ack));
        Assert.Equal("after", ack.GetProperty("id").GetString());

        await server.Server.Publisher.PublishAsync("system_alerts", """{"ok":true}""");
        JsonElement message = await client.ReceiveTypeAsync("message");
        Assert.Equal("system_alerts", message.GetProperty("channel").GetString());
        Assert.True(message.GetProperty("data").GetProperty("ok").GetBoolean());

        await client.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.Socket.State);
    }
}
