using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// Subscriptions per connection (50), the intent (20) and user+solver (10) quotas, and subscribers per key group:
/// over a limit, limit_exceeded names the channel refused and the rest of the request still applies.
/// </summary>
public sealed class SubscriptionLimitTests
{
    /// <summary>Sends one subscribe and collects the replies: the error per refused channel, then the ack.</summary>
    private static async Task<(string[] Subscribed, List<JsonElement> Errors)> SubscribeAsync(TestClient client, IEnumerable<string> channels, int id = 1)
    {
        await client.SendAsync(JsonSerializer.Serialize(new { type = "subscribe", channels, id }));
        var errors = new List<JsonElement>();
        while (true)
        {
            JsonElement reply = await client.ReceiveJsonAsync();
            string type = reply.GetProperty("type").GetString()!;
            if (type == "subscribed")
            {
                Assert.Equal(id, reply.GetProperty("id").GetInt32());
                return (SubscriptionTests.Channels(reply), errors);
            }

            Assert.Equal("error", type);
            Assert.Equal(id, reply.GetProperty("id").GetInt32());
            errors.Add(reply);
        }
    }

    private static void AssertLimitExceeded(IEnumerable<string> expectedChannels, List<JsonElement> errors)
    {
        Assert.All(errors, e => Assert.Equal("limit_exceeded", e.GetProperty("code").GetString()));
        Assert.All(errors, e => Assert.False(string.IsNullOrWhiteSpace(e.GetProperty("message").GetString())));
        Assert.Equal(expectedChannels, errors.Select(e => e.GetProperty("channel").GetString()));
    }

    [Fact]
    public async Task Fifty_five_channels_in_one_request_subscribe_fifty_and_refuse_five_by_name()
    {
        await using TestServer server = await TestServer.StartAsync(); // MaxSubscriptionsPerConnection stays at its default, 50
        Assert.Equal(50, server.State.Options.Limits.MaxSubscriptionsPerConnection);
        await using TestClient client = await server.ConnectAsync();
        string[] channels = Enumerable.Range(0, 55).Select(i => $"price:K{i}").ToArray();

        (string[] subscribed, List<JsonElement> errors) = await SubscribeAsync(client, channels);

        Assert.Equal(channels[..50], subscribed);
        AssertLimitExceeded(channels[50..], errors);
        Assert.Equal(50, server.State.Channels.Count);
        Assert.Equal(50, server.State.Connections.All.Single().SubscriptionCount);
        Assert.Equal(5, server.State.Metrics.LimitRejections);

        // Re-subscribing a channel it has is no new subscription: still fine at the limit.
        (subscribed, errors) = await SubscribeAsync(client, ["price:K0", "price:K99"], id: 2);
        Assert.Equal(["price:K0"], subscribed);
        AssertLimitExceeded(["price:K99"], errors);

        // One out, one in.
        await client.SendAsync("""{"type":"unsubscribe","channels":["price:K1"]}""");
        await client.ReceiveTypeAsync("unsubscribed");
        (subscribed, errors) = await SubscribeAsync(client, ["price:K99", "price:K98"], id: 3);
        Assert.Equal(["price:K99"], subscribed);
        AssertLimitExceeded(["price:K98"], errors);

        await client.CloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
    }

    [Fact]
    public async Task Intent_quota_allows_twenty()
    {
        await using TestServer server = await TestServer.StartAsync(TestServer.OpenIdentityNamespaces);
        await using TestClient client = await server.ConnectAsync();
        string[] intents = Enumerable.Range(0, 22).Select(i => $"intent:i{i}").ToArray();

        (string[] subscribed, List<JsonElement> errors) = await SubscribeAsync(client, intents.Append("price:SOL"));

        // The quota refuses the 21st and 22nd intent; other namespaces are not affected by it.
        Assert.Equal(intents[..20].Append("price:SOL"), subscribed);
        AssertLimitExceeded(intents[20..], errors);
        Assert.Contains("intent", errors[0].GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task User_and_solver_share_a_quota_of_ten()
    {
        await using TestServer server = await TestServer.StartAsync(TestServer.OpenIdentityNamespaces);
        await using TestClient client = await server.ConnectAsync();
        string[] users = Enumerable.Range(0, 6).Select(i => $"user:u{i}").ToArray();
        string[] solvers = Enumerable.Range(0, 6).Select(i => $"solver:s{i}").ToArray();

        (string[] subscribed, List<JsonElement> errors) = await SubscribeAsync(client, users.Concat(solvers));

        Assert.Equal(users.Concat(solvers[..4]), subscribed);
        AssertLimitExceeded(solvers[4..], errors);

        // The quota is per connection: another connection has its own ten.
        await using TestClient other = await server.ConnectAsync();
        (subscribed, errors) = await SubscribeAsync(other, solvers.Concat(users[..4]));
        Assert.Equal(solvers.Concat(users[..4]), subscribed);
        Assert.Empty(errors);

        // Unsubscribing frees quota.
        await client.SendAsync("""{"type":"unsubscribe","channels":["user:u0","solver:s0"]}""");
        await client.ReceiveTypeAsync("unsubscribed");
        (subscribed, errors) = await SubscribeAsync(client, ["solver:s4", "solver:s5", "user:u9"], id: 2);
        Assert.Equal(["solver:s4", "solver:s5"], subscribed);
        AssertLimitExceeded(["user:u9"], errors);
    }

    [Fact]
    public async Task Key_group_limit_counts_connections_per_key_and_frees_slots_when_they_leave()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxSubscribersPerKeyGroup = 3);
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await using TestClient c = await server.ConnectAsync();
        await using TestClient d = await server.ConnectAsync();

        // Three connections take the three SOL slots: a with two SOL channels still counts once.
        await SubscriptionTests.Subscribe(a, "price:SOL", "trades:SOL");
        await SubscriptionTests.Subscribe(b, "funding:SOL");
        await SubscriptionTests.Subscribe(c, "trades:SOL", "price:BTC");
        Assert.Equal(3, server.State.KeyGroups.Snapshot()["SOL"]);
        Assert.Equal(3, (await ProtectionKit.StatsAsync(server)).GetProperty("connectionsPerSlab").GetProperty("SOL").GetInt32());

        // Members may add more channels of the group; a fourth connection may not join it, but BTC is open.
        await SubscriptionTests.Subscribe(a, "funding:SOL");
        (string[] subscribed, List<JsonElement> errors) = await SubscribeAsync(d, ["price:SOL", "trades:SOL", "funding:SOL", "price:BTC", "trades:BTC"]);
        Assert.Equal(["price:BTC", "trades:BTC"], subscribed);
        AssertLimitExceeded(["price:SOL", "trades:SOL", "funding:SOL"], errors);
        Assert.Contains("SOL", errors[0].GetProperty("message").GetString(), StringComparison.Ordinal);

        JsonElement stats = await ProtectionKit.StatsAsync(server);
        Assert.Equal(3, stats.GetProperty("connectionsPerSlab").GetProperty("SOL").GetInt32());
        Assert.Equal(2, stats.GetProperty("connectionsPerSlab").GetProperty("BTC").GetInt32());
        Assert.Equal(3, stats.GetProperty("limits").GetProperty("maxConnectionsPerSlab").GetInt32());

        // Leaving one SOL channel of two keeps a's slot; leaving the last one frees it.
        await a.SendAsync("""{"type":"unsubscribe","channels":["price:SOL","trades:SOL"]}""");
        await a.ReceiveTypeAsync("unsubscribed");
        Assert.Equal(3, server.State.KeyGroups.Snapshot()["SOL"]);
        (subscribed, errors) = await SubscribeAsync(d, ["trades:SOL"], id: 2);
        Assert.Empty(subscribed);
        Assert.Single(errors);

        await a.SendAsync("""{"type":"unsubscribe","channels":["funding:SOL"]}""");
        await a.ReceiveTypeAsync("unsubscribed");
        Assert.Equal(2, server.State.KeyGroups.Snapshot()["SOL"]);
        (subscribed, errors) = await SubscribeAsync(d, ["trades:SOL"], id: 3);
        Assert.Equal(["trades:SOL"], subscribed);
        Assert.Empty(errors);

        // A disconnect frees its slot too.
        await b.CloseAsync();
        await TestServer.WaitUntilAsync(() => server.State.KeyGroups.Snapshot()["SOL"] == 2, "b's SOL slot to be freed");
        (subscribed, errors) = await SubscribeAsync(a, ["price:SOL"], id: 4);
        Assert.Equal(["price:SOL"], subscribed);
        Assert.Equal(3, (await ProtectionKit.StatsAsync(server)).GetProperty("connectionsPerSlab").GetProperty("SOL").GetInt32());

        // Data still flows to the members, not to the refused.
        await server.Server.Publisher.PublishAsync("trades:SOL", "7");
        Assert.Equal("""{"type":"message","channel":"trades:SOL","seq":1,"data":7}""", await c.ReceiveAsync());
        Assert.Equal("""{"type":"message","channel":"trades:SOL","seq":1,"data":7}""", await d.ReceiveAsync());
        await a.AssertNoMessageAsync(TimeSpan.FromMilliseconds(100));

        await a.CloseAsync();
        await c.CloseAsync();
        await d.CloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
        Assert.Empty((await ProtectionKit.StatsAsync(server)).GetProperty("connectionsPerSlab").EnumerateObject());
    }

    [Fact]
    public async Task Key_group_limit_applies_to_URL_subscriptions_too()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxSubscribersPerKeyGroup = 1);
        await using TestClient first = await server.ConnectAsync("subscribe=price:ETH");
        Assert.Equal(["price:ETH"], SubscriptionTests.Channels(await first.ReceiveTypeAsync("subscribed")));

        await using TestClient second = await server.ConnectAsync("subscribe=trades:ETH,price:SOL");
        JsonElement error = await second.ReceiveTypeAsync("error");
        Assert.Equal("limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("trades:ETH", error.GetProperty("channel").GetString());
        Assert.Equal(["price:SOL"], SubscriptionTests.Channels(await second.ReceiveTypeAsync("subscribed")));
    }

    [Fact]
    public async Task Subscription_limits_set_to_0_are_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            TestServer.OpenIdentityNamespaces(o);
            o.Limits.MaxSubscriptionsPerConnection = 0;
            o.Limits.SubscriptionQuotas["intent"] = 0;
            o.Limits.SubscriptionQuotas["user_solver"] = 0;
            o.Limits.MaxSubscribersPerKeyGroup = 0;
        });
        await using TestClient client = await server.ConnectAsync();
        string[] channels = Enumerable.Range(0, 60).Select(i => $"price:K{i}")
            .Concat(Enumerable.Range(0, 25).Select(i => $"intent:i{i}"))
            .Concat(Enumerable.Range(0, 15).Select(i => $"user:u{i}"))
            .ToArray();

        (string[] subscribed, List<JsonElement> errors) = await SubscribeAsync(client, channels);

        Assert.Equal(channels, subscribed);
        Assert.Empty(errors);
        Assert.Equal(0, server.State.Metrics.LimitRejections);

        // Many connections in one key group.
        var others = new List<TestClient>();
        try
        {
            for (int i = 0; i < 5; i++)
            {
                others.Add(await server.ConnectAsync());
                await SubscriptionTests.Subscribe(others[^1], "price:K0");
            }

            Assert.Equal(6, server.State.KeyGroups.Snapshot()["K0"]);
        }
        finally
        {
            foreach (TestClient other in others)
            {
                await other.DisposeAsync();
            }
        }
    }
}
