using System.Text.Json;
using FastWs.Server.FanOut;
using FastWs.Server.Publishing;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>server.Events: the typed events' exact JSON on their channels, input checks, and the demo feed's shapes.</summary>
public sealed class TypedPublishingTests
{
    private const long Timestamp = 1732252800123;

    [Fact]
    public async Task Price_trade_and_funding_arrive_in_the_seed_shapes()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL", "trades:SOL", "funding:SOL");
        TypedPublisher events = server.Server.Events;

        PublishResult result = await events.PublishPriceAsync("SOL", 1.5, 1.51, 1.49, Timestamp);
        Assert.Equal(PublishOutcome.Queued, result.Outcome);
        Assert.Equal(1, result.Subscribers);
        await AssertDataAsync(client, "price:SOL",
            """{"type":"price","slab":"SOL","price":1.5,"markPrice":1.51,"indexPrice":1.49,"timestamp":1732252800123}""");

        await events.PublishTradeAsync("SOL", TradeSide.Buy, 2.5, 150.1, Timestamp);
        await AssertDataAsync(client, "trades:SOL", """{"type":"trade","slab":"SOL","side":"buy","size":2.5,"price":150.1,"timestamp":1732252800123}""");
        await events.PublishTradeAsync("SOL", TradeSide.Sell, 0.001, 149, Timestamp);
        await AssertDataAsync(client, "trades:SOL", """{"type":"trade","slab":"SOL","side":"sell","size":0.001,"price":149,"timestamp":1732252800123}""");

        await events.PublishFundingAsync("SOL", 0.0001, Timestamp);
        await AssertDataAsync(client, "funding:SOL", """{"type":"funding","slab":"SOL","rate":0.0001,"timestamp":1732252800123}""");

        // No subscribers: nothing is sent, and the outcome says so.
        Assert.Equal(PublishOutcome.NoSubscribers, (await events.PublishPriceAsync("ETH", 1, 1, 1, Timestamp)).Outcome);
        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task System_alerts_and_market_data_reach_their_channels()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "system_alerts", "market_data");
        TypedPublisher events = server.Server.Events;

        await events.BroadcastSystemAlertAsync("maintenance", "Matching 'paused' <5 min> \"soon\"\n", AlertSeverity.Warning, Timestamp);
        await AssertDataAsync(client, "system_alerts",
            """{"type":"system_alert","kind":"maintenance","message":"Matching 'paused' <5 min> \"soon\"\n","severity":"warning","timestamp":1732252800123}""");
        await events.BroadcastSystemAlertAsync("outage", "RPC down", AlertSeverity.Critical, Timestamp);
        await AssertDataAsync(client, "system_alerts", """{"type":"system_alert","kind":"outage","message":"RPC down","severity":"critical","timestamp":1732252800123}""");
        await events.BroadcastSystemAlertAsync("note", "ok", AlertSeverity.Info, Timestamp);
        await AssertDataAsync(client, "system_alerts", """{"type":"system_alert","kind":"note","message":"ok","severity":"info","timestamp":1732252800123}""");

        await events.PublishMarketDataAsync("""{"SOL": 150.1,"BTC":[1, 2]}"""u8, Timestamp);
        await AssertDataAsync(client, "market_data", """{"type":"market_data","data":{"SOL": 150.1,"BTC":[1, 2]},"timestamp":1732252800123}""");
    }

    [Fact]
    public async Task Intent_updates_and_direct_messages_go_to_intent_and_user_channels()
    {
        await using TestServer server = await TestServer.StartAsync(TestServer.OpenIdentityNamespaces);
        await using TestClient client = await server.ConnectAsync();
        await using TestClient secondConnection = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "intent:abc-123", "user:" + TokenFactory.Alice);
        await SubscriptionTests.Subscribe(secondConnection, "user:" + TokenFactory.Alice);
        TypedPublisher events = server.Server.Events;

        await events.PublishIntentUpdateAsync("abc-123", "filled", """{"fills":[{"size":2.5}],"note":null}"""u8);
        await AssertDataAsync(client, "intent:abc-123",
            """{"type":"intent_update","intentId":"abc-123","status":"filled","details":{"fills":[{"size":2.5}],"note":null}}""");
        await events.PublishIntentUpdateAsync("abc-123", "pending");
        await AssertDataAsync(client, "intent:abc-123", """{"type":"intent_update","intentId":"abc-123","status":"pending"}""");

        PublishResult result = await events.SendToUserAsync(TokenFactory.Alice, """{"type":"notice","text":"hi"}"""u8);
        Assert.Equal(2, result.Subscribers);
        await AssertDataAsync(client, "user:" + TokenFactory.Alice, """{"type":"notice","text":"hi"}""");
        await AssertDataAsync(secondConnection, "user:" + TokenFactory.Alice, """{"type":"notice","text":"hi"}""");
        Assert.Equal(PublishOutcome.NoSubscribers, (await events.SendToUserAsync(TokenFactory.Bob, "1"u8)).Outcome);
    }

    [Fact]
    public async Task Invalid_inputs_throw_ArgumentException()
    {
        await using TestServer server = await TestServer.StartAsync();
        TypedPublisher events = server.Server.Events;

        Throws(() => events.PublishPriceAsync("bad slab", 1, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync("", 1, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync(null!, 1, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync(new string('S', 130), 1, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync("SÖL", 1, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync("SOL", double.NaN, 1, 1, Timestamp));
        Throws(() => events.PublishPriceAsync("SOL", 1, double.PositiveInfinity, 1, Timestamp));
        Throws(() => events.PublishPriceAsync("SOL", 1, 1, double.NegativeInfinity, Timestamp));
        Throws(() => events.PublishTradeAsync("SOL", (TradeSide)7, 1, 1, Timestamp));
        Throws(() => events.PublishTradeAsync("SOL", TradeSide.Buy, double.NaN, 1, Timestamp));
        Throws(() => events.PublishTradeAsync("SOL/USD", TradeSide.Buy, 1, 1, Timestamp));
        Throws(() => events.PublishFundingAsync("SOL", double.NaN, Timestamp));
        Throws(() => events.PublishIntentUpdateAsync("a b", "filled"));
        Throws(() => events.PublishIntentUpdateAsync("abc", null!));
        Throws(() => events.PublishIntentUpdateAsync("abc", "filled", "{oops"u8));
        Throws(() => events.PublishIntentUpdateAsync("abc", "filled", "1 2"u8));
        Throws(() => events.PublishMarketDataAsync(default, Timestamp));
        Throws(() => events.PublishMarketDataAsync("[1,"u8, Timestamp));
        Throws(() => events.BroadcastSystemAlertAsync(null!, "m", AlertSeverity.Info, Timestamp));
        Throws(() => events.BroadcastSystemAlertAsync("k", "m", (AlertSeverity)9, Timestamp));
        Throws(() => events.SendToUserAsync("0x1 2", "{}"u8));
        Throws(() => events.SendToUserAsync(TokenFactory.Alice, "{"u8));

        static void Throws(Func<ValueTask<PublishResult>> call) => Assert.ThrowsAny<ArgumentException>(() => { _ = call(); });
    }

    [Fact]
    public async Task A_typed_publish_allocates_nothing_after_warm_up()
    {
        await using TestServer server = await TestServer.StartAsync();
        TypedPublisher events = server.Server.Events;
        for (int i = 0; i < 10; i++)
        {
            Publish(events);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Publish(events);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        // No subscribers, so everything completes synchronously: what is measured is the encoding and the checks.
        static void Publish(TypedPublisher events)
        {
            Assert.True(events.PublishPriceAsync("SOL", 150.1234, 150.2, 150.0, Timestamp).IsCompletedSuccessfully);
            Assert.True(events.PublishTradeAsync("SOL", TradeSide.Sell, 2.5, 150.1, Timestamp).IsCompletedSuccessfully);
            Assert.True(events.BroadcastSystemAlertAsync("maintenance", "Matching paused", AlertSeverity.Warning, Timestamp).IsCompletedSuccessfully);
        }
    }

    [Fact]
    public async Task The_demo_feed_publishes_prices_in_the_seed_shape()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Demo = true);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");

        JsonElement message = await client.ReceiveTypeAsync("message");
        Assert.Equal("price:SOL", message.GetProperty("channel").GetString());
        JsonElement data = message.GetProperty("data");
        Assert.Equal(["type", "slab", "price", "markPrice", "indexPrice", "timestamp"], data.EnumerateObject().Select(p => p.Name));
        Assert.Equal("price", data.GetProperty("type").GetString());
        Assert.Equal("SOL", data.GetProperty("slab").GetString());
        foreach (string name in new[] { "price", "markPrice", "indexPrice" })
        {
            Assert.InRange(data.GetProperty(name).GetDouble(), 100, 200);
        }

        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.InRange(data.GetProperty("timestamp").GetInt64(), now - 60_000, now + 1_000);
    }

    /// <summary>The next message is a data message on <paramref name="channel"/> whose data is exactly <paramref name="data"/>.</summary>
    private static async Task AssertDataAsync(TestClient client, string channel, string data)
    {
        using JsonDocument message = JsonDocument.Parse(await client.ReceiveAsync());
        Assert.Equal("message", message.RootElement.GetProperty("type").GetString());
        Assert.Equal(channel, message.RootElement.GetProperty("channel").GetString());
        Assert.Equal(data, message.RootElement.GetProperty("data").GetRawText());
    }
}
