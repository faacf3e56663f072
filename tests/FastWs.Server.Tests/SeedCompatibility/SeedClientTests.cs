using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FastWs.Server.Publishing;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.SeedCompatibility;

/// <summary>
/// A client written for the seed market-data server, unchanged: it connects to "/", subscribes the legacy way
/// (<c>slabAddress</c>) or with channel names, and reads typed events by their <c>type</c>, ignoring members it does
/// not know (<c>connected</c>, <c>subscribed</c>, <c>channel</c>, <c>seq</c>). It must see exactly what the seed sent.
/// </summary>
public sealed class SeedClientTests
{
    /// <summary>What a seed front end does with each message: keep the typed events, skip everything else.</summary>
    private sealed class SeedStyleClient : IAsyncDisposable
    {
        private readonly ClientWebSocket _socket = new();

        public static async Task<SeedStyleClient> ConnectAsync(Uri uri)
        {
            var client = new SeedStyleClient();
            client._socket.Options.KeepAliveInterval = TimeSpan.Zero;
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            await client._socket.ConnectAsync(uri, timeout.Token);
            return client;
        }

        public Task SendAsync(string json) =>
            _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

        /// <summary>The next price, trade or funding event, as the seed client's switch on "type" would see it.</summary>
        public async Task<JsonElement> NextEventAsync()
        {
            var buffer = new byte[64 * 1024];
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            while (true)
            {
                WebSocketReceiveResult result = await _socket.ReceiveAsync(buffer, timeout.Token);
                Assert.True(result.EndOfMessage);
                using JsonDocument document = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
                string? type = document.RootElement.GetProperty("type").GetString();
                if (type is "price" or "trade" or "funding")
                {
                    return document.RootElement.Clone();
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            _socket.Abort();
            _socket.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static async Task<TestServer> StartSeedLikeAsync() =>
        await TestServer.StartAsync(o => o.Path = "/", marketDataDefaults: true);

    [Fact]
    public async Task Legacy_slabAddress_subscribe_gets_price_trade_and_funding_in_the_seed_shapes()
    {
        await using TestServer server = await StartSeedLikeAsync();
        await using SeedStyleClient client = await SeedStyleClient.ConnectAsync(new Uri($"ws://{server.WebSocketEndPoint}/"));
        await client.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        await TestServer.WaitUntilAsync(() => server.State.Channels.TryGet("funding:SOL", out Channels.Channel? c) && c.SubscriberCount == 1, "the subscription");

        await server.State.Events.PublishPriceAsync("SOL", 1.5, 1.51, 1.49, 1_700_000_000_000);
        await server.State.Events.PublishTradeAsync("SOL", TradeSide.Sell, 3, 1.5, 1_700_000_000_001);
        await server.State.Events.PublishFundingAsync("SOL", 0.0001, 1_700_000_000_002);

        JsonElement price = await client.NextEventAsync();
        Assert.Equal("SOL", price.GetProperty("slab").GetString());
        Assert.Equal(1.5, price.GetProperty("price").GetDouble());
        Assert.Equal(1.51, price.GetProperty("markPrice").GetDouble());
        Assert.Equal(1.49, price.GetProperty("indexPrice").GetDouble());
        Assert.Equal(1_700_000_000_000, price.GetProperty("timestamp").GetInt64());

        JsonElement trade = await client.NextEventAsync();
        Assert.Equal("trade", trade.GetProperty("type").GetString());
        Assert.Equal("sell", trade.GetProperty("side").GetString());
        Assert.Equal(3, trade.GetProperty("size").GetDouble());

        JsonElement funding = await client.NextEventAsync();
        Assert.Equal("funding", funding.GetProperty("type").GetString());
        Assert.Equal(0.0001, funding.GetProperty("rate").GetDouble());
    }

    [Fact]
    public async Task A_new_subscriber_gets_the_current_price_at_once_as_the_seed_sent_it()
    {
        await using TestServer server = await StartSeedLikeAsync();
        // Published before anyone listens: price channels keep their latest message for new subscribers.
        await server.State.Events.PublishPriceAsync("BTC", 65000, 65001, 64999, 1_700_000_000_000);

        await using SeedStyleClient client = await SeedStyleClient.ConnectAsync(new Uri($"ws://{server.WebSocketEndPoint}/"));
        await client.SendAsync("""{"type":"subscribe","channels":["price:BTC"]}""");

        JsonElement price = await client.NextEventAsync();
        Assert.Equal("price", price.GetProperty("type").GetString());
        Assert.Equal(65000, price.GetProperty("price").GetDouble());
        Assert.True(price.GetProperty("snapshot").GetBoolean());
    }

    [Fact]
    public async Task Price_updates_are_conflated_to_one_per_interval_with_the_latest_winning()
    {
        await using TestServer server = await StartSeedLikeAsync();
        await using SeedStyleClient client = await SeedStyleClient.ConnectAsync(new Uri($"ws://{server.WebSocketEndPoint}/"));
        await client.SendAsync("""{"type":"subscribe","slabAddress":"ETH"}""");
        await TestServer.WaitUntilAsync(() => server.State.Channels.TryGet("price:ETH", out Channels.Channel? c) && c.SubscriberCount == 1, "the subscription");

        for (int i = 1; i <= 20; i++)
        {
            await server.State.Events.PublishPriceAsync("ETH", i, i, i, i);
        }

        // The first goes out at once; the 19 after it within 500 ms collapse into the last one.
        Assert.Equal(1, (await client.NextEventAsync()).GetProperty("price").GetDouble());
        JsonElement latest = await client.NextEventAsync();
        Assert.Equal(20, latest.GetProperty("price").GetDouble());
        Assert.Equal(2, latest.GetProperty("seq").GetInt64());
    }
}
