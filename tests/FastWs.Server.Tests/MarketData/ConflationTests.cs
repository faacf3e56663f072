using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace FastWs.Server.Tests.MarketData;

/// <summary>
/// Conflation on a fake clock (the real server, its conflator driven by <see cref="FakeTimeProvider"/>): at once
/// after a quiet interval, latest wins within it, numbered as delivered, nothing kept for idle channels.
/// </summary>
public sealed class ConflationTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(250);

    private static Task PriceAsync(TestServer server, string slab, double price) =>
        server.State.Events.PublishPriceAsync(slab, price, price, price, 0).AsTask();

    [Fact]
    public async Task The_first_update_after_a_quiet_interval_goes_at_once_and_the_latest_of_the_rest_when_it_ends()
    {
        var clock = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true, time: clock);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");

        await PriceAsync(server, "SOL", 1);
        JsonElement first = await client.ReceiveTypeAsync("price");
        Assert.Equal(1, first.GetProperty("price").GetDouble());
        Assert.Equal(1, first.GetProperty("seq").GetInt64());

        await PriceAsync(server, "SOL", 2);
        await PriceAsync(server, "SOL", 3);
        await PriceAsync(server, "SOL", 4);
        await client.AssertNoMessageAsync(Quiet);
        Assert.Equal(1, server.State.Publisher.ConflatedWaiting);

        clock.Advance(TimeSpan.FromMilliseconds(499));
        await client.AssertNoMessageAsync(Quiet);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        JsonElement latest = await client.ReceiveTypeAsync("price");
        Assert.Equal(4, latest.GetProperty("price").GetDouble());
        Assert.Equal(2, latest.GetProperty("seq").GetInt64()); // numbered as delivered: no false gap for 2 and 3
        Assert.Equal(2, server.State.Metrics.Conflated);
        Assert.Equal(0, server.State.Publisher.ConflatedWaiting);

        // The interval after a send with nothing waiting passes silently; then the next update goes at once again.
        clock.Advance(TimeSpan.FromMilliseconds(600));
        await client.AssertNoMessageAsync(Quiet);
        await PriceAsync(server, "SOL", 5);
        Assert.Equal(5, (await client.ReceiveTypeAsync("price")).GetProperty("price").GetDouble());
    }

    [Fact]
    public async Task An_update_within_the_interval_after_a_send_waits_for_that_interval_only()
    {
        var clock = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true, time: clock);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");
        await PriceAsync(server, "SOL", 1);
        await client.ReceiveTypeAsync("price");

        clock.Advance(TimeSpan.FromMilliseconds(400));
        await PriceAsync(server, "SOL", 2);
        await client.AssertNoMessageAsync(Quiet);

        clock.Advance(TimeSpan.FromMilliseconds(100)); // 500 ms after the first send, not after this publish
        Assert.Equal(2, (await client.ReceiveTypeAsync("price")).GetProperty("price").GetDouble());
    }

    [Fact]
    public async Task Channels_are_conflated_independently_with_one_timer_and_idle_channels_cost_nothing()
    {
        var clock = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true, time: clock);
        await using TestClient client = await server.ConnectAsync();
        string[] slabs = [.. Enumerable.Range(0, 40).Select(i => "S" + i)];
        await SubscriptionTests.Subscribe(client, [.. slabs.Select(s => "price:" + s)]);

        // One update each goes at once; nothing is left waiting.
        foreach (string slab in slabs)
        {
            await PriceAsync(server, slab, 1);
        }

        for (int i = 0; i < slabs.Length; i++)
        {
            await client.ReceiveTypeAsync("price");
        }

        Assert.Equal(0, server.State.Publisher.ConflatedWaiting);

        // 2,000 quiet channels (published once, nobody listening): none of them waits in the due queue.
        for (int i = 0; i < 2000; i++)
        {
            await PriceAsync(server, "Q" + i, 1);
        }

        Assert.Equal(0, server.State.Publisher.ConflatedWaiting);

        // Three updates each within the interval on every subscribed channel: each channel sends its latest once.
        for (int round = 2; round <= 4; round++)
        {
            foreach (string slab in slabs)
            {
                await PriceAsync(server, slab, round);
            }
        }

        Assert.Equal(slabs.Length, server.State.Publisher.ConflatedWaiting);
        clock.Advance(TimeSpan.FromMilliseconds(500));
        var latest = new Dictionary<string, double>();
        for (int i = 0; i < slabs.Length; i++)
        {
            JsonElement price = await client.ReceiveTypeAsync("price");
            latest.Add(price.GetProperty("slab").GetString()!, price.GetProperty("price").GetDouble());
            Assert.Equal(2, price.GetProperty("seq").GetInt64());
        }

        Assert.All(slabs, slab => Assert.Equal(4, latest[slab]));
        await client.AssertNoMessageAsync(Quiet);
    }

    [Fact]
    public async Task Concurrent_publishers_on_the_real_clock_never_deliver_an_older_value_after_a_newer_one()
    {
        await using TestServer server = await TestServer.StartAsync(
            o => o.Namespaces["price"].ConflationInterval = TimeSpan.FromMilliseconds(2), marketDataDefaults: true);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");

        // Each publisher's values rise; per publisher, a value seen must never be followed by a lower one.
        const int PerPublisher = 3000;
        await Task.WhenAll(Enumerable.Range(0, 3).Select(p => Task.Run(async () =>
        {
            for (int i = 1; i <= PerPublisher; i++)
            {
                await server.State.Events.PublishPriceAsync("SOL", i, p, 0, 0);
            }
        })));
        await server.State.Events.PublishPriceAsync("SOL", PerPublisher + 1, 3, 0, 0); // a last, newest value: it must be the last one seen

        var lastByPublisher = new double[4];
        long lastSeq = 0;
        double seen;
        do
        {
            JsonElement price = await client.ReceiveTypeAsync("price");
            long seq = price.GetProperty("seq").GetInt64();
            Assert.Equal(lastSeq + 1, seq);
            lastSeq = seq;
            seen = price.GetProperty("price").GetDouble();
            int publisher = (int)price.GetProperty("markPrice").GetDouble();
            Assert.True(seen > lastByPublisher[publisher], $"publisher {publisher}: {seen} after {lastByPublisher[publisher]}");
            lastByPublisher[publisher] = seen;
        }
        while (seen != PerPublisher + 1);

        Assert.True(server.State.Metrics.Conflated > 0);
    }
}
