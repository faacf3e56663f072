using System.Net;
using System.Text;
using FastWs.Server.FanOut;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// How fan-out is driven: publishes of one read (or one HTTP array) are queued first and delivered together by the
/// publishing thread, a full queue makes the publisher deliver before it waits, and concurrent publishers on one
/// shard never lose or reorder a channel's messages. Tiny queues force every hand-over path.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class FanOutDeliveryTests
{
    private const string Channel = "bench:delivery";

    [Theory]
    [InlineData(1, 2048)]      // every publish of the read after the first finds the queue full
    [InlineData(4, 2048)]
    [InlineData(65536, 2048)]  // the whole read fits: queued, then delivered as one batch at the end of the read
    [InlineData(4, 0)]         // the publisher delivers nothing itself: everything through the thread pool
    [InlineData(65536, 3)]     // one message (2 writes) inline, the rest of each read handed to the thread pool
    public async Task Thousands_of_publishes_in_one_write_arrive_complete_and_in_order(int queueCapacity, int inlineBudget)
    {
        const int Count = 3000;
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.FanOutShards = 1;
            o.FanOutQueueCapacity = queueCapacity;
            o.FanOutInlineDeliveryBudget = inlineBudget;
        });
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, Channel);
        await SubscriptionTests.Subscribe(b, Channel);
        var receivers = new List<OrderedReceiver> { new(a, Expected, Count), new(b, Expected, Count) };

        // One TCP write holding every publish frame: the server reads them in as few reads as the kernel allows.
        await using RawClient publisher = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        using var all = new MemoryStream();
        for (int n = 1; n <= Count; n++)
        {
            all.Write(RawClient.MaskedText($$"""{"type":"publish","channel":"{{Channel}}","data":{{Data(n)}}}"""));
        }

        await publisher.SendAsync(all.ToArray());

        await OrderedReceiver.WaitForAllAsync(receivers, Count);
        await TestServer.WaitUntilAsync(() => server.Server.Publisher.QueuedMessages == 0, "the queue to be empty");
        Assert.Equal(0, server.State.Metrics.FanOutFailures);
    }

    [Fact]
    public async Task An_http_array_longer_than_the_queue_is_delivered_complete_and_in_order()
    {
        const int Count = 500;
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.FanOutShards = 1;
            o.FanOutQueueCapacity = 2;
        });
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, Channel);
        var receiver = new OrderedReceiver(subscriber, Expected, Count);

        var body = new StringBuilder("[");
        for (int n = 1; n <= Count; n++)
        {
            body.Append(n == 1 ? "" : ",").Append($$"""{"channel":"{{Channel}}","data":{{Data(n)}}}""");
        }

        using var http = new HttpClient { BaseAddress = server.HttpUri, Timeout = TestServer.DefaultTimeout };
        using HttpResponseMessage response = await http.PostAsync("/api/publish", new StringContent(body.Append(']').ToString(), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await OrderedReceiver.WaitForAllAsync([receiver], Count);
    }

    [Theory]
    [InlineData(2048)]
    [InlineData(0)] // every delivery handed to the thread pool
    public async Task Concurrent_publishers_on_one_shard_lose_nothing_and_keep_each_channel_in_order(int inlineBudget)
    {
        // Three WebSocket publishers and the in-process API race for one shard with a small queue: whoever finds
        // nobody delivering delivers for all. Each channel has a single publisher, so its seq order is its data order.
        const int PerChannel = 1500;
        string[] channels = ["bench:p0", "bench:p1", "bench:p2", "bench:p3"];
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.FanOutShards = 1;
            o.FanOutQueueCapacity = 8;
            o.FanOutInlineDeliveryBudget = inlineBudget;
        });
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, channels);

        var publishers = new List<RawClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                publishers.Add(await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint));
            }

            Task[] sending =
            [
                .. publishers.Select((p, i) => Task.Run(async () =>
                {
                    for (int n = 1; n <= PerChannel; n += 50)
                    {
                        using var burst = new MemoryStream();
                        for (int k = n; k < n + 50 && k <= PerChannel; k++)
                        {
                            burst.Write(RawClient.MaskedText($$"""{"type":"publish","channel":"{{channels[i]}}","data":{{Data(k)}}}"""));
                        }

                        await p.SendAsync(burst.ToArray());
                    }
                })),
                Task.Run(async () =>
                {
                    for (int k = 1; k <= PerChannel; k++)
                    {
                        await server.Server.Publisher.PublishAsync(channels[3], Data(k));
                    }
                }),
            ];

            // Every channel's messages arrive with seq 1..N and data n == seq, interleaved in any way.
            int[] next = [1, 1, 1, 1];
            for (int received = 0; received < PerChannel * channels.Length; received++)
            {
                System.Text.Json.JsonElement message = await subscriber.ReceiveJsonAsync();
                int c = Array.IndexOf(channels, message.GetProperty("channel").GetString());
                Assert.True(c >= 0);
                Assert.Equal(next[c], message.GetProperty("seq").GetInt32());
                Assert.Equal(next[c], message.GetProperty("data").GetProperty("n").GetInt32());
                next[c]++;
            }

            await Task.WhenAll(sending);
            await subscriber.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
            Assert.Equal(0, server.State.Metrics.FanOutFailures);
        }
        finally
        {
            foreach (RawClient p in publishers)
            {
                await p.DisposeAsync();
            }
        }
    }

    private static string Data(int n) => $$"""{"n":{{n}}}""";

    private static string Expected(int n) => $$"""{"type":"message","channel":"{{Channel}}","seq":{{n}},"data":{{Data(n)}}}""";
}
