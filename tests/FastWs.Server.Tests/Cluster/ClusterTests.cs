using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FastWs.Server.Broker;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Cluster;

/// <summary>
/// Several FastWs nodes on one real redis-server (issue 18): one stream per channel across the cluster, recovery on
/// any node, Redis restarted and a node lost mid-stream, and a node following only the channels it has subscribers for.
/// </summary>
public sealed class ClusterTests
{
    private const string Trades = "trades:SOL";

    internal static Task<TestServer> NodeAsync(RedisProcess redis, Action<FastWsOptions>? configure = null) =>
        TestServer.StartAsync(options =>
        {
            options.Broker.Kind = BrokerKind.Redis;
            options.Broker.Redis.Configuration = redis.Configuration;
            options.Broker.InterestLinger = TimeSpan.FromMilliseconds(300);
            configure?.Invoke(options);
        }, marketDataDefaults: true);

    [Fact]
    public async Task A_node_configured_with_several_endpoints_publishes_through_StackExchange_Redis_with_the_same_numbering()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer own = await NodeAsync(redis); // one standalone primary: FastWs's own publish connection
        await using TestServer routed = await NodeAsync(redis, o => o.Broker.Redis.Configuration =
            $"127.0.0.1:{redis.Port},localhost:{redis.Port},connectTimeout=2000"); // two endpoints: StackExchange.Redis routes
        await using TestClient subscriber = await own.ConnectAsync();
        await SubscribeAsync(subscriber, Trades);

        foreach ((TestServer node, int i) in new[] { (routed, 1), (own, 2), (routed, 3) })
        {
            await using TestClient publisher = await node.ConnectAsync();
            await publisher.SendAsync($$"""{"type":"publish","channel":"{{Trades}}","data":{"i":{{i}}},"id":{{i}}}""");
            await publisher.ReceiveTypeAsync("published");
        }

        for (int i = 1; i <= 3; i++)
        {
            JsonElement message = await subscriber.ReceiveJsonAsync();
            Assert.Equal(i, message.GetProperty("seq").GetInt64());
            Assert.Equal(i, message.GetProperty("i").GetInt32());
        }
    }

    [Fact]
    public async Task A_publish_on_any_node_reaches_every_node_in_one_order_with_the_same_seq()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        await using TestServer c = await NodeAsync(redis);
        var subscribers = new List<TestClient>();
        var epochs = new HashSet<string?>();
        foreach (TestServer node in new[] { a, b, c })
        {
            TestClient subscriber = await node.ConnectAsync();
            subscribers.Add(subscriber);
            JsonElement position = await SubscribeAsync(subscriber, Trades);
            epochs.Add(position.GetProperty("epoch").GetString());
            Assert.Equal(0, position.GetProperty("seq").GetInt64());
        }

        Assert.Single(epochs); // the channel's epoch is Redis's, the same on every node

        // 30 publishes over WebSocket on b (pipelined to Redis, each acked), then 10 in one HTTP batch on c.
        await using TestClient publisher = await b.ConnectAsync();
        for (int i = 1; i <= 30; i++)
        {
            await publisher.SendAsync($$"""{"type":"publish","channel":"{{Trades}}","data":{"i":{{i}}},"id":{{i}}}""");
        }

        for (int i = 1; i <= 30; i++)
        {
            Assert.Equal(i, (await publisher.ReceiveTypeAsync("published")).GetProperty("id").GetInt32());
        }

        using var http = new HttpClient { BaseAddress = c.HttpUri };
        HttpResponseMessage response = await http.PostAsJsonAsync("/api/publish",
            Enumerable.Range(31, 10).Select(i => new { channel = Trades, data = new { i } }).ToArray());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        foreach (TestClient subscriber in subscribers)
        {
            for (int i = 1; i <= 40; i++)
            {
                JsonElement message = await subscriber.ReceiveJsonAsync();
                Assert.Equal(i, message.GetProperty("seq").GetInt64());
                Assert.Equal(i, message.GetProperty("i").GetInt32());
            }

            await subscriber.DisposeAsync();
        }

        Assert.Equal(40, c.State.Publisher.Broker!.Metrics.Received);
    }

    [Fact]
    public async Task A_client_that_lost_its_node_recovers_with_since_on_another()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        TestClient first = await a.ConnectAsync();
        string epoch = (await SubscribeAsync(first, Trades)).GetProperty("epoch").GetString()!;
        await PublishHttpAsync(a, Trades, 1, 10);
        for (int i = 1; i <= 10; i++)
        {
            Assert.Equal(i, (await first.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        }

        await first.DisposeAsync(); // its node is gone, as far as it knows
        await PublishHttpAsync(a, Trades, 11, 10); // missed: published while it reconnects

        // b has never followed the channel: it reads position and history from Redis on this subscribe.
        await using TestClient again = await b.ConnectAsync();
        await again.SendAsync($$$"""{"type":"subscribe","channels":["{{{Trades}}}"],"since":{"{{{Trades}}}":{"epoch":"{{{epoch}}}","seq":10}},"id":1}""");
        JsonElement ack = await again.ReceiveTypeAsync("subscribed");
        Assert.Equal([Trades], ack.GetProperty("recovered").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(20, ack.GetProperty("positions").GetProperty(Trades).GetProperty("seq").GetInt64());
        await PublishHttpAsync(a, Trades, 21, 5); // and live after the replay, with no seam
        for (int i = 11; i <= 25; i++)
        {
            JsonElement message = await again.ReceiveJsonAsync();
            Assert.Equal(i, message.GetProperty("seq").GetInt64());
            Assert.Equal(i, message.GetProperty("i").GetInt32());
        }
    }

    [Fact]
    public async Task A_price_published_on_one_node_is_the_snapshot_a_subscriber_on_another_gets()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        using var http = new HttpClient { BaseAddress = a.HttpUri };
        HttpResponseMessage response = await http.PostAsJsonAsync("/api/publish", new { channel = "price:SOL", data = new { price = 101.5 } });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        await using TestClient subscriber = await b.ConnectAsync();
        JsonElement position = default;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            // The conflated price leaves a's interval at once (the first after a quiet one) but reaches Redis a moment later.
            await using TestClient probe = await b.ConnectAsync();
            position = await SubscribeAsync(probe, "price:SOL");
            if (position.GetProperty("seq").GetInt64() == 1)
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal(1, position.GetProperty("seq").GetInt64());
        await subscriber.SendAsync("""{"type":"subscribe","channels":["price:SOL"],"id":2}""");
        await subscriber.ReceiveTypeAsync("subscribed");
        JsonElement snapshot = await subscriber.ReceiveJsonAsync();
        Assert.True(snapshot.GetProperty("snapshot").GetBoolean());
        Assert.Equal(101.5, snapshot.GetProperty("price").GetDouble());
        Assert.Equal(1, snapshot.GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task Redis_restarted_mid_stream_refuses_publishes_keeps_subscribers_and_announces_the_new_epoch()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        await using TestClient onA = await a.ConnectAsync();
        await using TestClient onB = await b.ConnectAsync();
        string epoch = (await SubscribeAsync(onA, Trades)).GetProperty("epoch").GetString()!;
        await SubscribeAsync(onB, Trades);
        await PublishHttpAsync(a, Trades, 1, 3);
        foreach (TestClient client in new[] { onA, onB })
        {
            for (int i = 1; i <= 3; i++)
            {
                Assert.Equal(i, (await client.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
            }
        }

        await redis.KillAsync();
        using var http = new HttpClient { BaseAddress = b.HttpUri };
        await WaitUntilAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable);

        // Publishes are refused, clearly: an "unavailable" error over WebSocket, 503 over HTTP. Nothing is queued.
        await using TestClient publisher = await b.ConnectAsync();
        await publisher.SendAsync($$"""{"type":"publish","channel":"{{Trades}}","data":{"i":4},"id":9}""");
        JsonElement error = await publisher.ReceiveTypeAsync("error");
        Assert.Equal("unavailable", error.GetProperty("code").GetString());
        HttpResponseMessage refused = await http.PostAsJsonAsync("/api/publish", new { channel = Trades, data = new { i = 4 } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(b.State.Publisher.Broker!.Metrics.Refused >= 2);

        // Subscribers stay connected meanwhile.
        await onA.SendAsync("""{"type":"ping","id":5}""");
        Assert.Equal("pong", (await onA.ReceiveJsonAsync()).GetProperty("type").GetString());

        // Redis comes back empty (no persistence): the nodes reconnect by themselves and re-subscribe.
        await redis.RestartAsync();
        await WaitUntilAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK);
        await WaitUntilAsync(async () =>
        {
            var result = await http.PostAsJsonAsync("/api/publish", new { channel = Trades, data = new { i = 100 } });
            return result.StatusCode == HttpStatusCode.Accepted;
        });

        // The channel's stream restarted in a new epoch: each subscriber is told (to: null, how much was missed is not
        // known) before the first message of the new epoch, and recovering with its old position resets it.
        foreach (TestClient client in new[] { onA, onB })
        {
            JsonElement gap = await client.ReceiveTypeAsync("gap");
            Assert.Equal(4, gap.GetProperty("from").GetInt64());
            Assert.Equal(JsonValueKind.Null, gap.GetProperty("to").ValueKind);
            Assert.Equal(1, (await client.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        }

        await onB.SendAsync($$"""{"type":"unsubscribe","channels":["{{Trades}}"]}""");
        await onB.ReceiveTypeAsync("unsubscribed");
        await onB.SendAsync($$$"""{"type":"subscribe","channels":["{{{Trades}}}"],"since":{"{{{Trades}}}":{"epoch":"{{{epoch}}}","seq":3}},"id":3}""");
        JsonElement ack = await onB.ReceiveTypeAsync("subscribed");
        Assert.Equal([Trades], ack.GetProperty("notRecovered").EnumerateArray().Select(e => e.GetString()));
        Assert.NotEqual(epoch, ack.GetProperty("positions").GetProperty(Trades).GetProperty("epoch").GetString());
        Assert.True(a.State.Publisher.Broker!.Metrics.Reconnects >= 1);
    }

    [Fact]
    public async Task Messages_a_node_missed_on_pub_sub_are_refilled_from_Redis_without_a_gap()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        await using TestClient onB = await b.ConnectAsync();
        await SubscribeAsync(onB, Trades);
        await PublishHttpAsync(a, Trades, 1, 5);

        // Messages 6-25 are numbered and kept in Redis, but their pub/sub copies go nowhere (as if b's subscription had
        // dropped for a moment); message 26 comes on pub/sub as usual and shows b the hole.
        await PublishPastPubSubAsync(redis, 6, 25, historySize: 1000);
        await PublishHttpAsync(a, Trades, 26, 1);
        for (int i = 1; i <= 26; i++)
        {
            JsonElement message = await onB.ReceiveJsonAsync();
            Assert.False(message.TryGetProperty("type", out _)); // no gap notice: inline messages only
            Assert.Equal(i, message.GetProperty("seq").GetInt64());
            Assert.Equal(i, message.GetProperty("i").GetInt32());
        }

        Assert.Equal(20, b.State.Publisher.Broker!.Metrics.Refilled);
        Assert.Equal(0, b.State.Publisher.Broker.Metrics.HolesAnnounced);
    }

    [Fact]
    public async Task A_hole_Redis_no_longer_has_is_announced_with_a_gap_notice()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis, o => o.Namespaces["trades"].History.Size = 5);
        await using TestClient onA = await a.ConnectAsync();
        await SubscribeAsync(onA, Trades);
        await PublishHttpAsync(a, Trades, 1, 2);
        await PublishPastPubSubAsync(redis, 3, 12, historySize: 5);
        await PublishHttpAsync(a, Trades, 13, 1);
        Assert.Equal(1, (await onA.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        Assert.Equal(2, (await onA.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        // Redis keeps 5 (9-13 once 13 is in): 9-12 are refilled, 3-8 are gone and announced.
        JsonElement gap = await onA.ReceiveTypeAsync("gap");
        Assert.Equal(3, gap.GetProperty("from").GetInt64());
        Assert.Equal(8, gap.GetProperty("to").GetInt64());
        for (int i = 9; i <= 13; i++)
        {
            Assert.Equal(i, (await onA.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        }
    }

    [Fact]
    public async Task A_node_shut_down_takes_only_its_own_connections()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        TestServer b = await NodeAsync(redis);
        await using TestClient onA = await a.ConnectAsync();
        TestClient onB = await b.ConnectAsync();
        await SubscribeAsync(onA, Trades);
        await SubscribeAsync(onB, Trades);
        await PublishHttpAsync(b, Trades, 1, 5);

        await b.Server.DisposeAsync(); // b shuts down, with its connections (SIGKILL: the test below)
        await onB.WaitForCloseAsync();
        await onB.DisposeAsync();
        await PublishHttpAsync(a, Trades, 6, 5);
        for (int i = 1; i <= 10; i++)
        {
            Assert.Equal(i, (await onA.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
        }
    }

    [Fact]
    public async Task A_node_killed_mid_stream_loses_only_its_connections_and_what_it_never_confirmed()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using NodeProcess b = await NodeProcess.StartAsync(redis);
        await using TestClient onA = await a.ConnectAsync();
        await SubscribeAsync(onA, Trades);
        await using TestClient onB = await TestClient.ConnectAsync(b.WebSocketUri);
        await SubscribeAsync(onB, Trades);

        // A publisher on b sends flat out; b is killed (SIGKILL) in the middle of it.
        await using TestClient publisher = await TestClient.ConnectAsync(b.WebSocketUri);
        int acked = 0;
        Task publishing = Task.Run(async () =>
        {
            try
            {
                for (int i = 1; i <= 100_000; i++)
                {
                    await publisher.SendAsync($$"""{"type":"publish","channel":"{{Trades}}","data":{"i":{{i}}},"id":{{i}}}""");
                }
            }
            catch (Exception)
            {
                // the node is gone
            }
        });
        Task counting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    JsonElement reply = await publisher.ReceiveJsonAsync(TimeSpan.FromSeconds(5));
                    if (reply.GetProperty("type").GetString() == "published")
                    {
                        acked = reply.GetProperty("id").GetInt32();
                    }
                }
            }
            catch (Exception)
            {
                // the node is gone
            }
        });
        await WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref acked) >= 200));
        await b.KillAsync();
        await Task.WhenAll(publishing, counting);
        await onB.WaitForCloseAsync(); // b's own connections drop (no close frame)

        // a goes on: every message b confirmed reached a's subscriber, in order, none twice, and a still serves.
        int confirmed = Volatile.Read(ref acked);
        long seq = 0;
        while (seq < confirmed)
        {
            JsonElement message = await onA.ReceiveJsonAsync();
            Assert.Equal(seq + 1, message.GetProperty("seq").GetInt64());
            Assert.Equal(seq + 1, message.GetProperty("i").GetInt32());
            seq++;
        }

        // Messages b sent to Redis but had not acked yet may follow; then a's own publish comes next in the stream.
        await Task.Delay(500);
        while (true)
        {
            JsonElement message;
            try
            {
                message = await onA.ReceiveJsonAsync(TimeSpan.FromMilliseconds(300));
            }
            catch (Exception)
            {
                break; // nothing more: the stream is quiet
            }

            Assert.Equal(++seq, message.GetProperty("seq").GetInt64());
        }

        await PublishHttpAsync(a, Trades, 1, 1);
        Assert.Equal(seq + 1, (await onA.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task A_node_follows_in_Redis_only_the_channels_it_has_subscribers_for()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        await PublishHttpAsync(a, Trades, 1, 3); // publishing follows nothing
        Assert.Empty(await PubSubChannelsAsync(redis));

        await using TestClient client = await b.ConnectAsync();
        await SubscribeAsync(client, "trades:ETH");
        Assert.Equal(["fastws:trades:ETH"], await PubSubChannelsAsync(redis));
        Assert.Equal(1, b.State.Publisher.Broker!.Metrics.Followed);
        Assert.Equal(0, a.State.Publisher.Broker!.Metrics.Followed);

        await client.SendAsync("""{"type":"unsubscribe","channels":["trades:ETH"]}""");
        await client.ReceiveTypeAsync("unsubscribed");
        // Dropped a short while (InterestLinger, 300 ms here) after the last local subscriber left.
        await WaitUntilAsync(async () => (await PubSubChannelsAsync(redis)).Length == 0);
        Assert.Equal(0, b.State.Publisher.Broker.Metrics.Followed);
    }

    [Fact]
    public async Task Stats_show_the_broker()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await PublishHttpAsync(a, Trades, 1, 2);
        using var http = new HttpClient { BaseAddress = a.HttpUri };
        JsonElement broker = (await http.GetFromJsonAsync<JsonElement>("/ws/stats")).GetProperty("broker");
        Assert.Equal("Redis", broker.GetProperty("kind").GetString());
        Assert.True(broker.GetProperty("connected").GetBoolean());
        Assert.Equal(2, broker.GetProperty("published").GetInt64());
        Assert.True(broker.GetProperty("roundTripMs").GetDouble() > 0);
        string metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("fastws_broker_publishes", metrics, StringComparison.Ordinal);
    }

    internal static async Task<JsonElement> SubscribeAsync(TestClient client, string channel)
    {
        await client.SendAsync($$"""{"type":"subscribe","channels":["{{channel}}"],"id":1}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal([channel], ack.GetProperty("channels").EnumerateArray().Select(e => e.GetString()));
        return ack.GetProperty("positions").GetProperty(channel);
    }

    internal static async Task PublishHttpAsync(TestServer node, string channel, int first, int count)
    {
        using var http = new HttpClient { BaseAddress = node.HttpUri };
        HttpResponseMessage response = await http.PostAsJsonAsync("/api/publish",
            Enumerable.Range(first, count).Select(i => new { channel, data = new { i } }).ToArray());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    /// <summary>
    /// Publishes messages <paramref name="first"/>..<paramref name="last"/> of <see cref="Trades"/> through the broker's own
    /// script, numbered and kept in Redis (within <paramref name="historySize"/>), but with their pub/sub copies sent to a
    /// channel nobody follows: as if every node's subscription had dropped for a moment.
    /// </summary>
    private static Task PublishPastPubSubAsync(RedisProcess redis, int first, int last, int historySize) =>
        redis.WithClientAsync(async (server, db) =>
        {
            for (int i = first; i <= last; i++)
            {
                await db.ScriptEvaluateAsync(FastWs.Server.Broker.RedisScripts.Publish, ["fastws:{" + Trades + "}:m", "fastws:{" + Trades + "}:h"],
                    ["lost:" + Trades, $$"""{"i":{{i}}}""", "00000000", historySize, 60_000]);
            }

            return true;
        });

    private static Task<string[]> PubSubChannelsAsync(RedisProcess redis) =>
        redis.WithClientAsync(async (server, db) =>
            ((StackExchange.Redis.RedisResult[])(await db.ExecuteAsync("PUBSUB", "CHANNELS", "fastws:*"))!).Select(r => (string)r!).Order().ToArray());

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        while (!await condition())
        {
            await Task.Delay(50, timeout.Token);
        }
    }
}
