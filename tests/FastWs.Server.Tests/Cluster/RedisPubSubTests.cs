using System.Net;
using System.Net.Sockets;
using System.Text;
using FastWs.Server.Broker;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FastWs.Server.Tests.Cluster;

/// <summary>
/// FastWs's own Redis pub/sub connection (<see cref="RedisPubSub"/>): the RESP2 push frames it parses, whole or cut
/// anywhere, and the connection itself against a real redis-server: subscribe confirmed before anything is missed,
/// messages in order with a batch end per read, a password, unsubscribe, and Redis restarted underneath it.
/// </summary>
public sealed class RedisPubSubTests
{
    [Fact]
    public void A_message_frame_gives_its_kind_channel_and_data_and_its_length()
    {
        byte[] frame = "*3\r\n$7\r\nmessage\r\n$4\r\nfw:a\r\n$5\r\nhello\r\n"u8.ToArray();

        Assert.True(RespPush.TryRead(frame, out RespPush push));

        Assert.Equal(frame.Length, push.Length);
        Assert.False(push.IsError);
        Assert.Equal("message", Text(frame, push.Kind));
        Assert.Equal("fw:a", Text(frame, push.Channel));
        Assert.Equal("hello", Text(frame, push.Payload));
    }

    [Fact]
    public void A_confirmation_has_an_integer_count_and_a_pong_an_empty_string()
    {
        byte[] subscribe = "*3\r\n$9\r\nsubscribe\r\n$4\r\nfw:a\r\n:1\r\n"u8.ToArray();
        Assert.True(RespPush.TryRead(subscribe, out RespPush confirmed));
        Assert.Equal("subscribe", Text(subscribe, confirmed.Kind));
        Assert.Equal("fw:a", Text(subscribe, confirmed.Channel));
        Assert.Equal("1", Text(subscribe, confirmed.Payload));

        byte[] pong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n"u8.ToArray();
        Assert.True(RespPush.TryRead(pong, out RespPush pongPush));
        Assert.Equal(pong.Length, pongPush.Length);
        Assert.Equal("pong", Text(pong, pongPush.Kind));
    }

    [Fact]
    public void A_frame_cut_anywhere_is_not_read_until_it_is_whole_and_binary_data_with_line_ends_is_kept()
    {
        byte[] frame = "*3\r\n$7\r\nmessage\r\n$4\r\nfw:a\r\n$6\r\na\r\nb\r\n\r\n"u8.ToArray();
        RespPush push = ReadWholeOnly(frame);
        Assert.Equal("a\r\nb\r\n", Text(frame, push.Payload));
    }

    [Fact]
    public void A_RESP3_push_is_a_push_cut_anywhere_and_replies_between_pushes_are_replies()
    {
        byte[] frame = ">3\r\n$7\r\nmessage\r\n$4\r\nfw:a\r\n$5\r\nhello\r\n"u8.ToArray();
        RespPush push = ReadWholeOnly(frame);
        Assert.True(push.IsPush);
        Assert.Equal(frame.Length, push.Length);
        Assert.Equal("message", Text(frame, push.Kind));
        Assert.Equal("hello", Text(frame, push.Payload));

        // A publish's reply (an integer), RESP3's null and an error: replies, not pushes.
        foreach ((string reply, bool error) in new[] { (":42\r\n", false), ("_\r\n", false), ("-NOSCRIPT No matching script.\r\n", true) })
        {
            byte[] bytes = Encoding.ASCII.GetBytes(reply);
            Assert.True(RespPush.TryRead(bytes, out RespPush read));
            Assert.False(read.IsPush);
            Assert.Equal(error, read.IsError);
            Assert.Equal(bytes.Length, read.Length);
        }
    }

    [Fact]
    public void An_error_line_is_an_error_and_garbage_is_refused()
    {
        byte[] error = "-NOAUTH Authentication required.\r\n"u8.ToArray();
        Assert.True(RespPush.TryRead(error, out RespPush push));
        Assert.True(push.IsError);
        Assert.Equal("NOAUTH Authentication required.", Text(error, push.Kind));

        Assert.Throws<RedisConnectionException>(() => RespPush.TryRead("hello\r\n"u8, out _));
        Assert.Throws<RedisConnectionException>(() => RespPush.TryRead("*1\r\n$x\r\n"u8, out _));
    }

    [Fact]
    public async Task Messages_published_after_the_confirmation_arrive_in_order_and_each_read_ends_with_a_batch_end()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        int batches = 0;
        using var pubsub = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration), () => Interlocked.Increment(ref batches));
        await WaitConnectedAsync(pubsub);
        var received = new List<string>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        RedisPubSub.Subscription subscription = await pubsub.SubscribeAsync("fw:t", (data, _) =>
        {
            lock (received)
            {
                received.Add(Encoding.UTF8.GetString(data.Span));
                if (received.Count == 200)
                {
                    all.TrySetResult();
                }
            }
        });

        using ConnectionMultiplexer publisher = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        ISubscriber bus = publisher.GetSubscriber();
        Task[] sent = [.. Enumerable.Range(1, 200).Select(i => bus.PublishAsync(RedisChannel.Literal("fw:t"), "m" + i))];
        await Task.WhenAll(sent);
        await all.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => "m" + i), received);
        Assert.InRange(Volatile.Read(ref batches), 1, 200);

        // Unsubscribed: nothing more arrives (a publish to the channel reaches no one).
        subscription.Unsubscribe();
        await WaitUntilAsync(async () => await bus.PublishAsync(RedisChannel.Literal("fw:t"), "late") == 0);
        lock (received)
        {
            Assert.Equal(200, received.Count);
        }
    }

    [Fact]
    public async Task The_connection_logs_when_it_is_made_and_when_it_is_lost_with_the_reason_and_the_wait()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using var logs = new CapturingLoggerProvider();
        using var pubsub = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration), () => { }, logger: logs.CreateLogger("FastWs.Broker"));
        await WaitUntilAsync(() => Task.FromResult(logs.WithId(4001).Count > 0));
        CapturingLoggerProvider.LogEntry connected = Assert.Single(logs.WithId(4001));
        Assert.Equal(LogLevel.Information, connected.Level);
        Assert.Contains("at 127.0.0.1:" + redis.Port + ":", connected.Message, StringComparison.Ordinal);
        Assert.Contains("pub/sub (RESP2)", connected.Message, StringComparison.Ordinal);

        await redis.KillAsync();
        await WaitUntilAsync(() => Task.FromResult(logs.WithId(4002).Count > 0));
        CapturingLoggerProvider.LogEntry lost = logs.WithId(4002)[0];
        Assert.Equal(LogLevel.Warning, lost.Level);
        Assert.Contains("trying again in 250 ms", lost.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Redis_without_RESP3_is_not_used_for_publishes_and_the_log_says_why()
    {
        // A server that answers every command as Redis 5 answers HELLO.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        Task serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using TcpClient client = await listener.AcceptTcpClientAsync(stop.Token);
                NetworkStream stream = client.GetStream();
                byte[] buffer = new byte[1024];
                if (await stream.ReadAsync(buffer, stop.Token) > 0)
                {
                    await stream.WriteAsync("-ERR unknown command 'HELLO'\r\n"u8.ToArray(), stop.Token);
                }
            }
        });

        using var logs = new CapturingLoggerProvider();
        ConfigurationOptions config = ConfigurationOptions.Parse("127.0.0.1:" + ((IPEndPoint)listener.LocalEndpoint).Port);
        using var pubsub = new RedisPubSub(config, () => { }, "return 1", logs.CreateLogger("FastWs.Broker"));
        await WaitUntilAsync(() => Task.FromResult(logs.WithId(4002).Count > 0));

        Assert.Contains("RESP3 needs Redis 6 or newer", logs.WithId(4002)[0].Message, StringComparison.Ordinal);
        Assert.False(pubsub.IsConnected);
        await Assert.ThrowsAsync<RedisConnectionException>(() => pubsub.Publisher!.EvaluateAsync("k", "h", "c", "d"u8, "e", 0, 0));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => serving);
    }

    [Fact]
    public async Task Redis_restarted_underneath_it_fails_nothing_silently_and_the_channels_are_subscribed_again()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using var pubsub = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration), () => { });
        int lost = 0, back = 0;
        pubsub.Disconnected += () => Interlocked.Increment(ref lost);
        pubsub.Reconnected += () => Interlocked.Increment(ref back);
        await WaitConnectedAsync(pubsub);
        var received = new List<string>();
        await pubsub.SubscribeAsync("fw:r", (data, _) =>
        {
            lock (received)
            {
                received.Add(Encoding.UTF8.GetString(data.Span));
            }
        });

        await redis.KillAsync();
        await redis.RestartAsync();
        await WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref back) == 1 && pubsub.IsConnected));
        Assert.Equal(1, Volatile.Read(ref lost));

        using ConnectionMultiplexer publisher = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        ISubscriber bus = publisher.GetSubscriber();
        await WaitUntilAsync(async () => await bus.PublishAsync(RedisChannel.Literal("fw:r"), "again") == 1);
        await WaitUntilAsync(() =>
        {
            lock (received)
            {
                return Task.FromResult(received.Contains("again"));
            }
        });
    }

    [Fact]
    public async Task A_subscribe_while_Redis_is_unreachable_fails_at_once_and_leaves_nothing_behind()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync();
        using var pubsub = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration), () => { });
        await WaitConnectedAsync(pubsub);
        await redis.KillAsync();
        await WaitUntilAsync(() => Task.FromResult(!pubsub.IsConnected));

        await Assert.ThrowsAsync<RedisConnectionException>(() => pubsub.SubscribeAsync("fw:x", (_, _) => { }));
    }

    [Fact]
    public async Task With_a_password_it_authenticates_and_a_wrong_one_never_connects()
    {
        await using RedisProcess redis = await RedisProcess.StartAsync(password: "s3cret");
        using var good = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration + ",password=s3cret"), () => { });
        await WaitConnectedAsync(good);
        using var bad = new RedisPubSub(ConfigurationOptions.Parse(redis.Configuration + ",password=wrong"), () => { });
        await Task.Delay(500);
        Assert.False(bad.IsConnected);
        Assert.True(good.IsConnected);
    }

    /// <summary>Reads <paramref name="frame"/>, after checking that no cut of it short of the whole is read.</summary>
    private static RespPush ReadWholeOnly(byte[] frame)
    {
        for (int cut = 0; cut < frame.Length; cut++)
        {
            Assert.False(RespPush.TryRead(frame.AsSpan(0, cut), out _), $"read at {cut} of {frame.Length} bytes");
        }

        Assert.True(RespPush.TryRead(frame, out RespPush push));
        Assert.Equal(frame.Length, push.Length);
        return push;
    }

    private static string Text(byte[] frame, Range part) => Encoding.UTF8.GetString(frame.AsSpan()[part]);

    private static Task WaitConnectedAsync(RedisPubSub pubsub) => WaitUntilAsync(() => Task.FromResult(pubsub.IsConnected));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        DateTime until = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "timed out");
            await Task.Delay(20);
        }
    }
}
