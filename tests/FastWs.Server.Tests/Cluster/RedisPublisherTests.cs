using System.Text;
using FastWs.Server.Broker;
using StackExchange.Redis;

namespace FastWs.Server.Tests.Cluster;

/// <summary>
/// Publishes on FastWs's own Redis connection (<see cref="RedisPublisher"/> on the RESP3 <see cref="RedisPubSub"/>)
/// against a real redis-server: pipelined publishes run in the order they were written and each completes with its
/// own reply; an error fails that publish alone; replies and pushed messages share the connection and each goes
/// where it belongs; a flushed script cache fails the publish that met it and the connection comes back with the
/// script loaded; Redis lost or stalled fails every waiting publish (none hangs), and while it is down a publish
/// fails at once.
/// </summary>
public sealed class RedisPublisherTests
{
    /// <summary>Appends ARGV[2] to the list KEYS[1], or publishes it on the channel KEYS[1] (ARGV[1] = "publish"); fails on demand (ARGV[1] = "fail").</summary>
    private const string Script = """
        if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
        if ARGV[1] == 'publish' then return redis.call('PUBLISH', KEYS[1], ARGV[2]) end
        return redis.call('RPUSH', KEYS[1], ARGV[2])
        """;

    [Fact]
    public async Task Pipelined_publishes_run_in_write_order_and_each_gets_its_own_reply()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using RedisPubSub connection = Connect(redis);
        RedisPublisher publisher = connection.Publisher!;

        Task[] sent = [.. Enumerable.Range(1, 1_000).Select(i => Publish(publisher, "fw:list", i == 500 ? "fail" : "ok", "m" + i))];
        Exception? failure = null;
        try
        {
            await Task.WhenAll(sent).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException ex)
        {
            failure = ex;
        }

        Assert.Contains("asked to fail", failure?.Message, StringComparison.Ordinal);
        Assert.True(sent[499].IsFaulted);
        Assert.All(sent.Where((_, i) => i != 499), t => Assert.True(t.IsCompletedSuccessfully));
        RedisValue[] list = await redis.WithClientAsync((_, db) => db.ListRangeAsync("fw:list"));
        Assert.Equal(Enumerable.Range(1, 1_000).Where(i => i != 500).Select(i => "m" + i), list.Select(v => (string)v!));
    }

    [Fact]
    public async Task Replies_and_the_messages_they_publish_share_the_connection_and_each_goes_where_it_belongs()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using RedisPubSub connection = Connect(redis);
        var received = new List<string>();
        RedisPubSub.Subscription subscription = await connection.SubscribeAsync("fw:pub", (data, _) =>
        {
            lock (received)
            {
                received.Add(Encoding.UTF8.GetString(data.Span));
            }
        });

        // Each publish's script publishes on the channel this connection follows: Redis sends the message and the
        // reply on it, both in the same write. 200 pipelined, one failing, PINGs (replies nobody waits for) between.
        Task[] sent = [.. Enumerable.Range(1, 200).Select(i =>
        {
            if (i % 50 == 0)
            {
                connection.Ping();
            }

            return Publish(connection.Publisher!, "fw:pub", i == 100 ? "fail" : "publish", "p" + i);
        })];
        await Assert.ThrowsAsync<InvalidOperationException>(() => sent[99].WaitAsync(TimeSpan.FromSeconds(10)));
        await Task.WhenAll(sent.Where((_, i) => i != 99)).WaitAsync(TimeSpan.FromSeconds(10));
        await WaitUntilAsync(() =>
        {
            lock (received)
            {
                return received.Count == 199;
            }
        });

        lock (received)
        {
            Assert.Equal(Enumerable.Range(1, 200).Where(i => i != 100).Select(i => "p" + i), received);
        }

        subscription.Unsubscribe();
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task A_flushed_script_cache_fails_the_publish_that_met_it_and_the_connection_comes_back_with_the_script()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using RedisPubSub connection = Connect(redis);
        RedisPublisher publisher = connection.Publisher!;
        int back = 0;
        connection.Reconnected += () => Interlocked.Increment(ref back);
        await Publish(publisher, "fw:s", "ok", "before");

        await redis.WithClientAsync(async (server, _) =>
        {
            await server.ScriptFlushAsync();
            return true;
        });
        await Assert.ThrowsAsync<InvalidOperationException>(() => Publish(publisher, "fw:s", "ok", "lost"));

        await WaitUntilAsync(() => Volatile.Read(ref back) == 1 && connection.IsConnected && publisher.IsConnected);
        await Publish(publisher, "fw:s", "ok", "after");
        RedisValue[] list = await redis.WithClientAsync((_, db) => db.ListRangeAsync("fw:s"));
        Assert.Equal(["before", "after"], list.Select(v => (string)v!));
    }

    [Fact]
    public async Task Redis_lost_fails_every_waiting_publish_and_while_it_is_down_a_publish_fails_at_once()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using RedisPubSub connection = Connect(redis);
        RedisPublisher publisher = connection.Publisher!;
        await Publish(publisher, "fw:k", "ok", "first");

        // Stalled: every waiting publish fails once the reply is overdue (asyncTimeout 1 s), none hangs.
        await redis.WithClientAsync(async (server, _) =>
        {
            await server.ExecuteAsync("CLIENT", "PAUSE", "3000", "WRITE");
            return true;
        });
        Task[] stalled = [.. Enumerable.Range(1, 20).Select(i => Publish(publisher, "fw:k", "ok", "s" + i))];
        foreach (Task task in stalled)
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => task.WaitAsync(TimeSpan.FromSeconds(10)));
        }

        await redis.KillAsync();
        await WaitUntilAsync(() => !connection.IsConnected && !publisher.IsConnected);
        Task refused = Publish(publisher, "fw:k", "ok", "down");
        Assert.True(refused.IsFaulted);
        await Assert.ThrowsAsync<RedisConnectionException>(() => refused);
    }

    private static RedisPubSub Connect(RedisProcess redis)
    {
        ConfigurationOptions config = ConfigurationOptions.Parse(redis.Configuration);
        config.AsyncTimeout = 1_000;
        var connection = new RedisPubSub(config, () => { }, Script);
        Assert.True(connection.WaitConnected(TimeSpan.FromSeconds(10)));
        Assert.NotNull(connection.Publisher);
        return connection;
    }

    private static Task Publish(RedisPublisher publisher, string key, string mode, string value) =>
        publisher.EvaluateAsync(key, key + ":unused", mode, Encoding.UTF8.GetBytes(value), "x", 0, 0);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        DateTime until = DateTime.UtcNow.AddSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out");
            await Task.Delay(20);
        }
    }
}
