using FastWs.Client.Tests.TestSupport;
using FastWs.LoadGen.Net;
using FastWs.Server.Broker;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.Cluster;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>
/// The client against several FastWs nodes on a real redis-server (issue 18): moved to another node it recovers with
/// <c>since</c> there, gaplessly; when Redis loses the channel's state it gets an explicit reset.
/// </summary>
public sealed class ClusterTests
{
    private static Task<TestServer> NodeAsync(RedisProcess redis) =>
        TestServer.StartAsync(options =>
        {
            options.Broker.Kind = BrokerKind.Redis;
            options.Broker.Redis.Configuration = redis.Configuration;
        }, marketDataDefaults: true);

    private static Task PublishAsync(TestServer node, string channel, int n) =>
        node.Server.Publisher.PublishAsync(channel, $$"""{"n":{{n}}}""").AsTask();

    [Fact]
    public async Task A_client_moved_to_another_node_recovers_there_without_a_gap()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using TestServer b = await NodeAsync(redis);
        await using var proxy = new DropProxy(a.WebSocketEndPoint);
        proxy.Start();
        await using var client = new FastWsClient(new Uri($"ws://127.0.0.1:{proxy.EndPoint.Port}/ws"), Harness.FastOptions());
        int resets = 0;
        client.Reset += (_, _) => Interlocked.Increment(ref resets);
        FastWsSubscription trades = await client.SubscribeAsync("trades:SOL");
        for (int i = 1; i <= 10; i++)
        {
            await PublishAsync(b, "trades:SOL", i); // published on b, delivered by a
        }

        await Harness.TakeAsync(trades, 10);

        // a is lost to this client (the balancer sends it to b from now on); meanwhile more is published on a.
        proxy.Target = b.WebSocketEndPoint;
        proxy.DropAll();
        for (int i = 11; i <= 30; i++)
        {
            await PublishAsync(a, "trades:SOL", i);
        }

        await TestServer.WaitUntilAsync(() => client.IsConnected && b.State.Connections.Count == 1, "the client to come back on b");
        for (int i = 31; i <= 35; i++)
        {
            await PublishAsync(a, "trades:SOL", i);
        }

        List<FastWsMessage> rest = await Harness.TakeAsync(trades, 25);
        Assert.Equal(Enumerable.Range(11, 25).Select(i => (long)i), rest.Select(m => m.Seq));
        Assert.Equal(Enumerable.Range(11, 25), rest.Select(m => m.Data.GetProperty("n").GetInt32()));
        Assert.Equal(0, resets);
        Assert.Equal(1, b.State.Metrics.Recoveries);
    }

    [Fact]
    public async Task Redis_losing_the_channel_gives_the_client_an_explicit_reset_then_the_new_epoch()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        await using TestServer a = await NodeAsync(redis);
        await using var client = new FastWsClient(a.WebSocketUri, Harness.FastOptions());
        var gaps = new List<FastWsGapEventArgs>();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        client.Gap += (_, e) => { lock (gaps) { gaps.Add(e); } log.Enqueue($"gap {e.From}-{e.To}"); };
        client.Error += (_, e) => log.Enqueue("error " + e.Error.Message);
        client.Closed += (_, e) => log.Enqueue($"closed {e.Code} {e.Reason}");
        client.Reset += (_, e) => log.Enqueue("reset " + e.Channel);
        FastWsSubscription trades = await client.SubscribeAsync("trades:SOL");
        await PublishAsync(a, "trades:SOL", 1);
        FastWsMessage first = (await Harness.TakeAsync(trades, 1))[0];

        await redis.KillAsync();
        await redis.RestartAsync(); // empty: the channel's next message starts a new epoch
        while (true)
        {
            // Refused (unavailable) until the node is back on Redis.
            FastWs.Server.FanOut.PublishResult published = await a.Server.Publisher.PublishAsync("trades:SOL", """{"n":2}""");
            if (published.Outcome == FastWs.Server.FanOut.PublishOutcome.Queued)
            {
                break;
            }

            await Task.Delay(50);
        }

        FastWsMessage reset;
        try
        {
            reset = (await Harness.TakeAsync(trades, 1))[0];
        }
        catch (Exception ex)
        {
            Assert.Fail(ex.Message + " events: " + string.Join(" | ", log));
            throw;
        }

        Assert.Equal(FastWsMessageKind.Reset, reset.Kind);
        Assert.NotEqual(first.Epoch, reset.Epoch);
        // The reset is at the new epoch's position (message 1, which the channel's new stream began with: no snapshot in
        // this namespace); the stream goes on from there.
        Assert.Equal(1, reset.Seq);
        await PublishAsync(a, "trades:SOL", 3);
        FastWsMessage next = (await Harness.TakeAsync(trades, 1))[0];
        Assert.Equal(3, next.Data.GetProperty("n").GetInt32());
        Assert.Equal(2, next.Seq);
        Assert.Equal(reset.Epoch, next.Epoch);
        lock (gaps)
        {
            Assert.Single(gaps);
            Assert.Null(gaps[0].To);
        }
    }
}
