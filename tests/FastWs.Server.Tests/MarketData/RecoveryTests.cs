using System.Net.Http.Json;
using System.Text.Json;
using FastWs.Server.Channels;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.MarketData;

/// <summary>Positions, history, <c>since</c>, snapshots and retention, including subscribes racing a publisher.</summary>
public sealed class RecoveryTests
{
    private static Task PublishAsync(TestServer server, string channel, int n) =>
        server.Server.Publisher.PublishAsync(channel, $$"""{"n":{{n}}}""").AsTask();

    [Fact]
    public async Task Subscribed_carries_each_channels_position_and_every_message_its_seq()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        for (int i = 1; i <= 3; i++)
        {
            await PublishAsync(server, "trades:SOL", i); // counted and kept with nobody subscribed
        }

        await using TestClient client = await server.ConnectAsync();
        await client.SendAsync("""{"type":"subscribe","channels":["trades:SOL","trades:BTC"],"id":1}""");
        JsonElement ack = Acks.AssertSubscribed((await client.ReceiveJsonAsync()).GetRawText(), ["trades:SOL", "trades:BTC"], "1");
        JsonElement sol = ack.GetProperty("positions").GetProperty("trades:SOL");
        Assert.Equal(3, sol.GetProperty("seq").GetInt64());
        Assert.Equal(server.State.Channels.TryGet("trades:SOL", out Channel? channel) ? channel.Epoch : null, sol.GetProperty("epoch").GetString());
        Assert.Equal(0, ack.GetProperty("positions").GetProperty("trades:BTC").GetProperty("seq").GetInt64());
        Assert.False(ack.TryGetProperty("recovered", out _), "no since, no recovery report");

        await PublishAsync(server, "trades:SOL", 4);
        Assert.Equal(4, (await client.ReceiveJsonAsync()).GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task Since_replays_what_was_missed_then_goes_on_live()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await using StreamClient stream = await StreamClient.SubscribeAsync(server, "trades:SOL");
        await PublishAsync(server, "trades:SOL", 1);
        await stream.NextAsync();

        await stream.Client.DisposeAsync(); // a network blip: no close frame
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 0, "the dropped connection to go");
        for (int i = 2; i <= 5; i++)
        {
            await PublishAsync(server, "trades:SOL", i);
        }

        JsonElement ack = await stream.ReconnectAsync();
        Assert.Equal(["trades:SOL"], ack.GetProperty("recovered").EnumerateArray().Select(c => c.GetString()));
        Assert.Empty(ack.GetProperty("notRecovered").EnumerateArray());
        Assert.Equal(5, ack.GetProperty("positions").GetProperty("trades:SOL").GetProperty("seq").GetInt64());
        for (int i = 2; i <= 5; i++)
        {
            Assert.Equal(i, (await stream.NextAsync()).GetProperty("n").GetInt32());
        }

        await PublishAsync(server, "trades:SOL", 6);
        Assert.Equal(6, (await stream.NextAsync()).GetProperty("n").GetInt32());
        Assert.Equal(1, server.State.Metrics.Recoveries);
        Assert.Equal(4, server.State.Metrics.MessagesReplayed);
    }

    [Fact]
    public async Task Since_at_the_current_position_recovers_with_nothing_to_replay()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await using StreamClient stream = await StreamClient.SubscribeAsync(server, "market_data");
        await PublishAsync(server, "market_data", 1);
        await stream.NextAsync();

        JsonElement ack = await stream.ReconnectAsync();

        Assert.Equal(["market_data"], ack.GetProperty("recovered").EnumerateArray().Select(c => c.GetString()));
        await stream.Client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task History_that_does_not_reach_back_or_another_epoch_is_not_recovered_and_the_snapshot_resets_the_client()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Namespaces["trades"].History.Size = 3;
            o.Namespaces["trades"].Snapshot = true;
        }, marketDataDefaults: true);
        await using StreamClient stream = await StreamClient.SubscribeAsync(server, "trades:SOL");
        await PublishAsync(server, "trades:SOL", 1);
        await stream.NextAsync();
        string epoch = stream.Epoch!;

        await stream.Client.DisposeAsync();
        for (int i = 2; i <= 10; i++)
        {
            await PublishAsync(server, "trades:SOL", i); // only 8..10 stay
        }

        JsonElement ack = await stream.ReconnectAsync();
        Assert.Equal(["trades:SOL"], ack.GetProperty("notRecovered").EnumerateArray().Select(c => c.GetString()));
        JsonElement snapshot = await stream.NextAsync();
        Assert.True(snapshot.GetProperty("snapshot").GetBoolean());
        Assert.Equal(10, snapshot.GetProperty("n").GetInt32());
        Assert.Equal(10, stream.Seq);

        // Another epoch (a restart, an expired channel) is never recovered, even with a seq that exists.
        await using TestClient other = await server.ConnectAsync();
        await other.SendAsync($$$$"""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"{{{{epoch}}}}x","seq":9}}}""");
        JsonElement otherAck = await other.ReceiveTypeAsync("subscribed");
        Assert.Equal(["trades:SOL"], otherAck.GetProperty("notRecovered").EnumerateArray().Select(c => c.GetString()));
        Assert.True((await other.ReceiveJsonAsync()).GetProperty("snapshot").GetBoolean());
        Assert.Equal(2, server.State.Metrics.RecoveryFailures);
    }

    [Fact]
    public async Task History_is_bounded_by_age_and_bytes_and_its_memory_shows_in_stats()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Namespaces["trades"].History.MaxBytes = 1000;
            o.Namespaces["intent"].Subscribe = FastWs.Server.Auth.AccessPolicy.Anyone;
            o.Namespaces["intent"].History.MaxAge = TimeSpan.FromMilliseconds(200);
        }, marketDataDefaults: true);
        string big = new('x', 90);
        for (int i = 0; i < 100; i++)
        {
            await server.Server.Publisher.PublishAsync("trades:SOL", $$"""{"n":{{i}},"pad":"{{big}}"}""");
        }

        await server.Server.Publisher.PublishAsync("intent:1", """{"n":1}""");
        await TestServer.WaitUntilAsync(() => server.State.Channels.History().Messages >= 2, "the history to fill");
        HistoryStats stats = server.State.Channels.History();
        Assert.InRange(stats.DataBytes, 1, 1000 + 200);

        using var http = new HttpClient { BaseAddress = server.HttpUri };
        JsonElement history = (await http.GetFromJsonAsync<JsonElement>("/ws/stats")).GetProperty("history");
        Assert.Equal(2, history.GetProperty("channels").GetInt32());
        Assert.True(history.GetProperty("dataBytes").GetInt64() <= 1000 + 200);
        Assert.True(history.GetProperty("bufferBytes").GetInt64() >= history.GetProperty("dataBytes").GetInt64());

        // The intent message is older than its 200 ms: a client that missed it cannot recover it.
        string epoch = server.State.Channels.TryGet("intent:1", out Channel? intent) ? intent.Epoch : "";
        await Task.Delay(300);
        await using TestClient client = await server.ConnectAsync();
        await client.SendAsync($$$$"""{"type":"subscribe","channels":["intent:1"],"since":{"intent:1":{"epoch":"{{{{epoch}}}}","seq":0}}}""");
        Assert.Equal(["intent:1"], (await client.ReceiveTypeAsync("subscribed")).GetProperty("notRecovered").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task A_channel_keeps_its_state_for_its_retention_and_then_starts_a_new_epoch()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Namespaces["trades"].Retention = TimeSpan.FromMilliseconds(300);
            o.Heartbeat.PingInterval = TimeSpan.FromMilliseconds(400); // a faster supervisor tick, which sweeps retention
            o.Heartbeat.PongTimeout = TimeSpan.FromMilliseconds(300);
        }, marketDataDefaults: true);
        string epoch;
        await using (StreamClient stream = await StreamClient.SubscribeAsync(server, "trades:SOL"))
        {
            await PublishAsync(server, "trades:SOL", 1);
            await stream.NextAsync();
            epoch = stream.Epoch!;
        }

        await TestServer.WaitUntilAsync(() => server.State.Channels.Count == 0, "the channel's retention to pass");
        Assert.Equal(0, server.State.Channels.IdleCount);
        Assert.Equal(0, server.State.Channels.History().BufferBytes);

        await using TestClient client = await server.ConnectAsync();
        await client.SendAsync($$$$"""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"{{{{epoch}}}}","seq":1}}}""");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["trades:SOL"], ack.GetProperty("notRecovered").EnumerateArray().Select(c => c.GetString()));
        Assert.NotEqual(epoch, ack.GetProperty("positions").GetProperty("trades:SOL").GetProperty("epoch").GetString());
    }

    [Fact]
    public async Task A_subscription_waiting_for_the_token_keeps_its_since()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure, marketDataDefaults: true);
        await PublishAsync(server, "intent:7", 1);
        await PublishAsync(server, "intent:7", 2);
        string epoch = server.State.Channels.TryGet("intent:7", out Channel? intent) ? intent.Epoch : "";

        await using TestClient client = await server.ConnectAsync();
        await client.SendAsync($$$$"""{"type":"subscribe","channels":["intent:7"],"since":{"intent:7":{"epoch":"{{{{epoch}}}}","seq":1}}}""");
        Assert.Empty((await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray()); // waits for the token
        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}"}""");

        await client.ReceiveTypeAsync("authenticated");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["intent:7"], ack.GetProperty("recovered").EnumerateArray().Select(c => c.GetString()));
        JsonElement replayed = await client.ReceiveJsonAsync();
        Assert.Equal(2, replayed.GetProperty("seq").GetInt64());
        Assert.Equal(2, replayed.GetProperty("n").GetInt32());
    }

    [Theory]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":[1]}""", "\"since\" must be an object")]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"e"}}}""", "must map channel names")]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"e","seq":-1}}}""", "must map channel names")]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":1,"seq":1}}}""", "must map channel names")]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"e","seq":1.5}}}""", "must map channel names")]
    [InlineData("""{"type":"subscribe","channels":["trades:SOL"],"since":{"trades:SOL":{"epoch":"e","seq":1,"x":2}}}""", "must map channel names")]
    public async Task A_malformed_since_is_refused_with_bad_request_and_subscribes_nothing(string request, string expected)
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync(request);

        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Contains(expected, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, server.State.Channels.Count);
        await client.SendAsync("""{"type":"ping"}""");
        await client.ReceiveTypeAsync("pong");
    }

    [Fact]
    public async Task Snapshots_come_after_subscribed_for_every_way_of_subscribing()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await server.State.Events.PublishPriceAsync("SOL", 1.5, 1.5, 1.5, 1);
        await server.State.Events.PublishFundingAsync("SOL", 0.01, 1);

        await using TestClient legacy = await server.ConnectAsync();
        await legacy.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        Assert.Equal(["price:SOL", "trades:SOL", "funding:SOL"], (await legacy.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        JsonElement price = await legacy.ReceiveTypeAsync("price");
        Assert.True(price.GetProperty("snapshot").GetBoolean());
        Assert.Equal(1, price.GetProperty("seq").GetInt64());
        Assert.True((await legacy.ReceiveTypeAsync("funding")).GetProperty("snapshot").GetBoolean());
        await legacy.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200)); // trades keep history, not snapshots

        await using TestClient fromUrl = await server.ConnectAsync("subscribe=price:SOL");
        await fromUrl.ReceiveTypeAsync("subscribed");
        Assert.True((await fromUrl.ReceiveTypeAsync("price")).GetProperty("snapshot").GetBoolean());
        Assert.Equal(3, server.State.Metrics.SnapshotsSent);
    }

    /// <summary>
    /// Joining a channel nobody else listens to while it is published to flat out: every message numbered after the
    /// position a subscriber was given must reach it, though the channel had no subscriber when fan-out took it.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    public async Task A_lone_subscriber_joining_a_busy_channel_misses_nothing_after_its_position(int historySize)
    {
        const string Channel = "lone:X";
        await using TestServer server = await TestServer.StartAsync(o => o.Namespaces["lone"] = new NamespaceOptions
        {
            History = new HistoryOptions { Size = historySize },
            Retention = TimeSpan.FromMinutes(1),
        }, marketDataDefaults: true);
        await using (StreamClient first = await StreamClient.SubscribeAsync(server, Channel))
        {
            // Creates the channel, which then stays (retention) with no subscribers between the joins below.
        }

        using var stop = new CancellationTokenSource();
        Task publisher = Task.Run(async () =>
        {
            for (int i = 1; !stop.IsCancellationRequested; i++)
            {
                await server.Server.Publisher.PublishAsync(Channel, $$"""{"n":{{i}}}""");
                if (i % 16 == 0)
                {
                    await Task.Yield();
                }
            }
        });

        try
        {
            for (int join = 0; join < 40; join++)
            {
                await using StreamClient stream = await StreamClient.SubscribeAsync(server, Channel);
                for (int i = 0; i < 20; i++)
                {
                    await stream.NextAsync(); // asserts seq = position + 1, + 2, ...
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await publisher;
        }
    }

    /// <summary>
    /// The seam under fire: a publisher runs flat out on one channel while clients subscribe (snapshot then live) and
    /// others drop and recover with since (replay then live), over and over. Every client's stream must be gapless
    /// and duplicate-free, and every message's data must be the one published with that seq.
    /// </summary>
    [Fact]
    public async Task Subscribing_and_recovering_while_a_publisher_runs_flat_out_never_gap_nor_duplicate()
    {
        const string Channel = "race:X";
        const int Messages = 30_000;
        await using TestServer server = await TestServer.StartAsync(o => o.Namespaces["race"] = new NamespaceOptions
        {
            Format = MessageFormat.Inline,
            Snapshot = true,
            History = new HistoryOptions { Size = Messages, MaxBytes = 64L * 1024 * 1024 },
        }, marketDataDefaults: true);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task publisher = Task.Run(async () =>
        {
            for (int i = 1; i <= Messages; i++)
            {
                await server.Server.Publisher.PublishAsync(Channel, $$"""{"n":{{i}}}""", stop.Token);
                if (i % 64 == 0)
                {
                    await Task.Yield();
                }
            }
        });

        async Task FollowAsync(int id)
        {
            await using StreamClient stream = await StreamClient.SubscribeAsync(server, Channel);
            int reconnects = 0;
            while (stream.Seq < Messages)
            {
                JsonElement message = await stream.NextAsync();
                Assert.Equal(message.GetProperty("seq").GetInt64(), message.GetProperty("n").GetInt64());
                if (stream.Received % (500 + (id * 97)) == 0 && reconnects < 8)
                {
                    reconnects++;
                    JsonElement ack = await stream.ReconnectAsync();
                    Assert.Equal([Channel], ack.GetProperty("recovered").EnumerateArray().Select(c => c.GetString()));
                }
            }
        }

        async Task JoinRepeatedlyAsync()
        {
            while (!publisher.IsCompleted)
            {
                await using StreamClient stream = await StreamClient.SubscribeAsync(server, Channel);
                for (int i = 0; i < 50 && stream.Seq < Messages; i++)
                {
                    JsonElement message = await stream.NextAsync();
                    Assert.Equal(message.GetProperty("seq").GetInt64(), message.GetProperty("n").GetInt64());
                }
            }
        }

        await Task.WhenAll(FollowAsync(1), FollowAsync(2), FollowAsync(3), JoinRepeatedlyAsync(), JoinRepeatedlyAsync(), publisher);
        Assert.True(server.State.Metrics.Recoveries > 0);
        Assert.Equal(0, server.State.Metrics.RecoveryFailures);
    }
}
