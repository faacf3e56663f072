using System.Net.WebSockets;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.Protection;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.SeedCompatibility;

/// <summary>
/// Issue 17: <c>Limits:KeyGroupLimitAction</c>. <c>Error</c> (the default) refuses the channel with limit_exceeded;
/// <c>Close</c> closes the connection with 1008 and the same message, as the seed server did, leaving nothing behind.
/// </summary>
public sealed class KeyGroupLimitActionTests
{
    private const string Reason = "At most 1 subscribers for 'SOL'";

    private static Task<TestServer> StartAsync(KeyGroupLimitAction? action) =>
        TestServer.StartAsync(
            o => o.Limits.MaxSubscribersPerKeyGroup = 1,
            action is null ? null : [$"--FastWs:Limits:KeyGroupLimitAction={action}"]);

    /// <summary>One connection holds the only SOL slot.</summary>
    private static async Task<TestClient> TakeTheSolSlotAsync(TestServer server)
    {
        TestClient holder = await server.ConnectAsync("subscribe=price:SOL");
        Assert.Equal(["price:SOL"], SubscriptionTests.Channels(await holder.ReceiveTypeAsync("subscribed")));
        return holder;
    }

    private static async Task AssertClosedForSolAsync(TestServer server, TestClient client, TestClient holder)
    {
        await client.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
        Assert.Equal(Reason, client.CloseDescription);

        // Nothing of the closed connection is left: only the holder's connection, channel and SOL slot.
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1 && server.State.Channels.Count == 1, () => ProtectionKit.Describe(server));
        Assert.Equal(new Dictionary<string, int> { ["SOL"] = 1 }, server.State.KeyGroups.Snapshot());
        JsonElement stats = await ProtectionKit.StatsAsync(server);
        Assert.Equal(1, stats.GetProperty("counters").GetProperty("limitRejections").GetInt64());
        Assert.Equal(1, stats.GetProperty("closesByCode").GetProperty("1008").GetInt64());
        Assert.Equal(1, stats.GetProperty("totalConnections").GetInt32());

        // The slot is still the holder's; once it leaves, everything is gone.
        await holder.CloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public void Error_is_the_default()
    {
        Assert.Equal(KeyGroupLimitAction.Error, new FastWsOptions().Limits.KeyGroupLimitAction);
    }

    [Fact]
    public async Task Error_refuses_the_legacy_slab_subscribe_per_channel_and_keeps_the_connection()
    {
        await using TestServer server = await StartAsync(null);
        await using TestClient holder = await TakeTheSolSlotAsync(server);
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        foreach (string channel in new[] { "price:SOL", "trades:SOL", "funding:SOL" })
        {
            JsonElement error = await client.ReceiveTypeAsync("error");
            Assert.Equal("limit_exceeded", error.GetProperty("code").GetString());
            Assert.Equal(channel, error.GetProperty("channel").GetString());
            Assert.Equal(Reason, error.GetProperty("message").GetString());
        }

        Assert.Empty(SubscriptionTests.Channels(await client.ReceiveTypeAsync("subscribed")));
        await client.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());
        Assert.Equal(3, server.State.Metrics.LimitRejections);
    }

    [Fact]
    public async Task Close_closes_with_1008_on_a_channels_subscribe_and_leaves_nothing_behind()
    {
        await using TestServer server = await StartAsync(KeyGroupLimitAction.Close);
        Assert.Equal(KeyGroupLimitAction.Close, server.State.Options.Limits.KeyGroupLimitAction);
        await using TestClient holder = await TakeTheSolSlotAsync(server);
        await using TestClient client = await server.ConnectAsync();

        // price:BTC is subscribed before the refusal: the close must undo it (and its BTC slot) too.
        await client.SendAsync("""{"type":"subscribe","channels":["price:BTC","price:SOL","trades:ETH"],"id":1}""");

        await AssertClosedForSolAsync(server, client, holder);
    }

    [Fact]
    public async Task Close_closes_with_1008_on_the_legacy_slab_subscribe()
    {
        await using TestServer server = await StartAsync(KeyGroupLimitAction.Close);
        await using TestClient holder = await TakeTheSolSlotAsync(server);
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");

        await AssertClosedForSolAsync(server, client, holder);
    }

    [Fact]
    public async Task Close_closes_with_1008_after_the_upgrade_on_a_URL_subscribe()
    {
        await using TestServer server = await StartAsync(KeyGroupLimitAction.Close);
        await using TestClient holder = await TakeTheSolSlotAsync(server);

        await using TestClient client = await server.ConnectAsync("subscribe=price:BTC,trades:SOL");

        await AssertClosedForSolAsync(server, client, holder);
    }

    [Fact]
    public async Task Close_leaves_members_of_the_group_free_to_add_channels()
    {
        await using TestServer server = await StartAsync(KeyGroupLimitAction.Close);
        await using TestClient holder = await TakeTheSolSlotAsync(server);

        await holder.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        Assert.Equal(["price:SOL", "trades:SOL", "funding:SOL"], SubscriptionTests.Channels(await holder.ReceiveTypeAsync("subscribed")));
        Assert.Equal(0, server.State.Metrics.LimitRejections);
    }
}
