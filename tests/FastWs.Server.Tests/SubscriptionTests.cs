using System.Text.Json;
using FastWs.Server.Channels;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>subscribe / unsubscribe (with and without id), idempotence, the legacy slabAddress form, URL subscriptions.</summary>
public sealed class SubscriptionTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Subscribe_is_acked_with_the_channels_and_the_id_echoed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL","trades:SOL"],"id":7}""");

        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["price:SOL", "trades:SOL"], Channels(ack));
        Assert.Equal(7, ack.GetProperty("id").GetInt32());
        Assert.Equal(2, server.State.Channels.Count);
    }

    [Fact]
    public async Task String_ids_are_echoed_verbatim_and_no_id_means_no_id()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL"],"id":"req-\u00e9-1"}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal("req-\u00e9-1", ack.GetProperty("id").GetString());

        await client.SendAsync("""{"type":"subscribe","channels":["price:BTC"]}""");
        ack = await client.ReceiveTypeAsync("subscribed");
        Assert.False(ack.TryGetProperty("id", out _), $"No id was sent, none should come back: {ack}");
    }

    [Fact]
    public async Task Subscriber_receives_published_messages()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await Subscribe(client, "price:SOL");

        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":101.5}""");

        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":101.5}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Unsubscribe_is_acked_and_then_no_more_messages_arrive_from_that_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await Subscribe(client, "price:SOL", "trades:SOL");

        await client.SendAsync("""{"type":"unsubscribe","channels":["price:SOL"],"id":8}""");
        JsonElement ack = await client.ReceiveTypeAsync("unsubscribed");
        Assert.Equal(["price:SOL"], Channels(ack));
        Assert.Equal(8, ack.GetProperty("id").GetInt32());

        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":1}""");
        await server.Server.Publisher.PublishAsync("trades:SOL", """{"t":1}""");

        // Only the still-subscribed channel's message comes; the price message never does.
        JsonElement message = await client.ReceiveTypeAsync("message");
        Assert.Equal("trades:SOL", message.GetProperty("channel").GetString());
        await client.AssertNoMessageAsync(Quiet);

        // The channel had no other subscriber, so it is gone from the registry.
        Assert.False(server.State.Channels.TryGet("price:SOL", out _));
        Assert.True(server.State.Channels.TryGet("trades:SOL", out _));
    }

    [Fact]
    public async Task Subscribe_twice_is_idempotent_and_delivers_each_message_once()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL"],"id":1}""");
        Assert.Equal(["price:SOL"], Channels(await client.ReceiveTypeAsync("subscribed")));
        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL","price:SOL"],"id":2}""");
        JsonElement second = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(2, second.GetProperty("id").GetInt32());
        Assert.All(Channels(second), c => Assert.Equal("price:SOL", c));

        Assert.True(server.State.Channels.TryGet("price:SOL", out Channel? channel));
        Assert.Equal(1, channel.SubscriberCount);

        await server.Server.Publisher.PublishAsync("price:SOL", "1");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":1}""", await client.ReceiveAsync());
        await client.AssertNoMessageAsync(Quiet);
    }

    [Fact]
    public async Task Unsubscribe_twice_and_unsubscribe_of_a_never_subscribed_channel_are_acked()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await Subscribe(client, "price:SOL");

        for (int i = 0; i < 2; i++)
        {
            await client.SendAsync("""{"type":"unsubscribe","channels":["price:SOL"]}""");
            Assert.Equal(["price:SOL"], Channels(await client.ReceiveTypeAsync("unsubscribed")));
        }

        await client.SendAsync("""{"type":"unsubscribe","channels":["funding:ETH"]}""");
        Assert.Equal(["funding:ETH"], Channels(await client.ReceiveTypeAsync("unsubscribed")));
        Assert.Equal(0, server.State.Channels.Count);

        // Subscribing again after all that works normally.
        await Subscribe(client, "price:SOL");
        await server.Server.Publisher.PublishAsync("price:SOL", "2");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":2}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Legacy_slabAddress_subscribes_to_price_trades_and_funding()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["price:SOL", "trades:SOL", "funding:SOL"], Channels(ack));

        foreach (string channel in new[] { "price:SOL", "trades:SOL", "funding:SOL" })
        {
            await server.Server.Publisher.PublishAsync(channel, "{}");
            Assert.Equal($$$"""{"type":"message","channel":"{{{channel}}}","seq":1,"data":{}}""", await client.ReceiveAsync());
        }

        await client.SendAsync("""{"type":"unsubscribe","slabAddress":"SOL"}""");
        Assert.Equal(["price:SOL", "trades:SOL", "funding:SOL"], Channels(await client.ReceiveTypeAsync("unsubscribed")));
        Assert.Equal(0, server.State.Channels.Count);
    }

    [Fact]
    public async Task Channels_in_the_connect_URL_are_subscribed_and_acked()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync("subscribe=market_data,price:SOL");

        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["market_data", "price:SOL"], Channels(ack));

        await server.Server.Publisher.PublishAsync("market_data", """{"m":1}""");
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":2}""");
        Assert.Equal("""{"type":"message","channel":"market_data","seq":1,"data":{"m":1}}""", await client.ReceiveAsync());
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":2}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task URL_subscriptions_may_repeat_the_parameter_and_be_percent_encoded()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync("subscribe=price%3ASOL&subscribe=trades:SOL");

        Assert.Equal(["price:SOL", "trades:SOL"], Channels(await client.ReceiveTypeAsync("subscribed")));
    }

    [Fact]
    public async Task URL_subscription_to_an_unknown_namespace_is_an_error_but_the_rest_subscribe()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync("subscribe=nope:1,price:SOL");

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("invalid_channel", error.GetProperty("code").GetString());
        Assert.Equal("nope:1", error.GetProperty("channel").GetString());
        Assert.Equal(["price:SOL"], Channels(await client.ReceiveTypeAsync("subscribed")));
    }

    [Fact]
    public async Task Disconnecting_removes_the_subscriptions()
    {
        await using TestServer server = await TestServer.StartAsync();
        TestClient client = await server.ConnectAsync();
        await Subscribe(client, "price:SOL", "trades:SOL", "market_data");
        Assert.Equal(3, server.State.Channels.Count);

        await client.DisposeAsync();

        await TestServer.WaitUntilAsync(() => server.State.Channels.Count == 0 && server.State.Connections.Count == 0, "channels and connection to be cleaned up");
    }

    internal static async Task Subscribe(TestClient client, params string[] channels)
    {
        await client.SendAsync(JsonSerializer.Serialize(new { type = "subscribe", channels }));
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(channels, Channels(ack));
    }

    internal static string[] Channels(JsonElement ack) =>
        ack.GetProperty("channels").EnumerateArray().Select(c => c.GetString()!).ToArray();
}
