using FastWs.Server.Hosting;
using System.Diagnostics;
using System.Globalization;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>Load tests run alone (not in parallel with other tests), so their timing means something on a small machine.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeavyCollection
{
    public const string Name = "Heavy";
}

/// <summary>Encode-once fan-out: a sequence of messages reaches every one of many subscribers, all of it, in order.</summary>
[Collection(HeavyCollection.Name)]
public sealed class FanOutTests
{
    private const int Clients = 200;
    private const int Messages = 500;

    /// <summary>How far the publisher may run ahead of the slowest client (about 10 KB each, well under the 64 KB limit).</summary>
    private const int Window = 100;

    [Theory]
    [MemberData(nameof(TransportSetups.All), MemberType = typeof(TransportSetups))]
    public async Task Every_one_of_200_clients_receives_all_500_messages_in_order(TransportEngine engine, bool directSends)
    {
        await using TestServer server = await TestServer.StartAsync(o => TransportSetups.Apply(o, engine, directSends));
        var clients = new TestClient[Clients];
        try
        {
            var watch = Stopwatch.StartNew();
            using (var gate = new SemaphoreSlim(20))
            {
                await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        clients[i] = await server.ConnectAsync();
                        await SubscriptionTests.Subscribe(clients[i], "bench:fanout");
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
            }

            Assert.True(server.State.Channels.TryGet("bench:fanout", out Channels.Channel? channel));
            Assert.Equal(Clients, channel.SubscriberCount);
            TestContext.Current.TestOutputHelper?.WriteLine($"Connected and subscribed {Clients} clients in {watch.ElapsedMilliseconds} ms");

            // Every client checks its messages as they come: exact bytes, seq 1..N in order.
            int[] progress = new int[Clients];
            Task[] checkers = clients.Select((client, i) => Task.Run(async () =>
            {
                for (int n = 1; n <= Messages; n++)
                {
                    string message = await client.ReceiveAsync();
                    Assert.Equal(Expected(n), message);
                    Volatile.Write(ref progress[i], n);
                }
            })).ToArray();

            watch.Restart();
            for (int n = 1; n <= Messages; n++)
            {
                var result = await server.Server.Publisher.PublishAsync("bench:fanout", Data(n));
                Assert.Equal(FanOut.PublishOutcome.Queued, result.Outcome);
                Assert.Equal(Clients, result.Subscribers);

                if (n % 20 == 0)
                {
                    // Keep the publisher within a window of the slowest client, so nobody legitimately hits the slow-consumer limit.
                    int floor = n - Window;
                    await TestServer.WaitUntilAsync(() => progress.Min() >= floor || checkers.Any(c => c.IsCompleted), $"every client to reach message {floor}");
                    Task? failed = checkers.FirstOrDefault(c => c.IsFaulted);
                    if (failed is not null)
                    {
                        await failed;
                    }
                }
            }

            await Task.WhenAll(checkers).WaitAsync(TimeSpan.FromSeconds(30));
            TestContext.Current.TestOutputHelper?.WriteLine($"Delivered {Messages} x {Clients} messages in {watch.ElapsedMilliseconds} ms");

            Assert.Equal(0, server.State.Metrics.MessagesSkipped);
            Assert.Equal((long)Clients * Messages, server.State.Metrics.MessagesOut);
            foreach (TestClient client in clients)
            {
                await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(1));
            }
        }
        finally
        {
            await Task.WhenAll(clients.Where(c => c is not null).Select(c => c.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task Many_publishers_to_many_channels_keep_per_channel_order()
    {
        const int channels = 8;
        const int perChannel = 300;
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.FanOutShards = 2;
            o.SlowConsumer.MaxBufferedBytes = 1 << 20; // one reader of everything; not a slow-consumer test
        });
        await using TestClient all = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(all, Enumerable.Range(0, channels).Select(c => $"bench:c{c}").ToArray());

        // One WebSocket publisher per channel, all publishing at once.
        var publishers = new List<TestClient>();
        try
        {
            for (int c = 0; c < channels; c++)
            {
                publishers.Add(await server.ConnectAsync());
            }

            await Task.WhenAll(publishers.Select(async (publisher, c) =>
            {
                for (int n = 1; n <= perChannel; n++)
                {
                    await publisher.SendAsync($$"""{"type":"publish","channel":"bench:c{{c}}","data":{{n}}}""");
                }
            }));

            long[] lastSeq = new long[channels];
            for (int i = 0; i < channels * perChannel; i++)
            {
                System.Text.Json.JsonElement message = await all.ReceiveTypeAsync("message");
                int c = int.Parse(message.GetProperty("channel").GetString()!["bench:c".Length..], CultureInfo.InvariantCulture);
                long seq = message.GetProperty("seq").GetInt64();
                Assert.Equal(lastSeq[c] + 1, seq);
                Assert.Equal(seq, message.GetProperty("data").GetInt64());
                lastSeq[c] = seq;
            }

            Assert.All(lastSeq, s => Assert.Equal(perChannel, s));
        }
        finally
        {
            foreach (TestClient publisher in publishers)
            {
                await publisher.DisposeAsync();
            }
        }
    }

    private static string Data(int n) => $$"""{"n":{{n}},"pad":"{{new string((char)('a' + (n % 26)), 40)}}"}""";

    private static string Expected(int n) => $$"""{"type":"message","channel":"bench:fanout","seq":{{n}},"data":{{Data(n)}}}""";
}
