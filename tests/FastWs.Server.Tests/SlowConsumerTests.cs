using FastWs.Server.Hosting;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Connections;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// A client that stops reading has data skipped once its unsent output passes the limit, never holds up the
/// others, and is closed when it stays over the limit too long.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class SlowConsumerTests
{
    private const string Channel = "bench:slow";
    private const int Burst = 4;              // 4 x ~2 KB in flight: well under the 16 KB limit for clients that read
    private const int MaxMessages = 20_000;   // ~40 MB: far more than any kernel buffer could swallow
    private static readonly string Padding = new('x', 2000);

    [Theory]
    [MemberData(nameof(TransportSetups.All), MemberType = typeof(TransportSetups))]
    public async Task Client_that_stops_reading_is_skipped_while_the_others_get_everything(TransportEngine engine, bool directSends)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            TransportSetups.Apply(o, engine, directSends);
            o.SlowConsumer.MaxBufferedBytes = 16 * 1024;
            o.SlowConsumer.MaxCongestedTime = TimeSpan.FromMinutes(5); // this test is about skipping, not closing
        });
        await using RawClient slow = await ConnectSlowClientAsync(server);
        WebSocketConnection slowConnection = server.State.Connections.All.Single();

        var fast = new List<TestClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                fast.Add(await server.ConnectAsync());
                await SubscriptionTests.Subscribe(fast[i], Channel);
            }

            // Publish in small bursts, paced on the clients that read, until the slow one has been skipped for a while.
            int[] published = [0];
            var receivers = new List<OrderedReceiver>();
            foreach (TestClient client in fast)
            {
                receivers.Add(new OrderedReceiver(client, Expected, MaxMessages));
            }

            int skippedAt = await PublishUntilSkippedAsync(server, slowConnection, receivers, published, extraAfterSkip: 200);
            int total = published[0];
            TestContext.Current.TestOutputHelper?.WriteLine($"First skip after {skippedAt} messages; {total} published; slow client skipped {slowConnection.MessagesSkipped}");

            // Everyone who reads got everything, in order, byte for byte; only the slow client was skipped.
            await OrderedReceiver.WaitForAllAsync(receivers, total);
            Assert.True(slowConnection.MessagesSkipped > 0);
            Assert.True(server.State.Metrics.MessagesSkipped > 0);
            Assert.Equal(slowConnection.MessagesSkipped, server.State.Metrics.MessagesSkipped);

            // Now the slow client reads what it was sent: whole frames with rising seq, the skipped ones missing,
            // and received + skipped adds up to everything published. The JSON pong (a reply) is never skipped.
            // Every hole is announced by a gap notice naming exactly the skipped range, before the next message.
            await slow.SendTextAsync("""{"type":"ping"}""");
            long lastSeq = 0;
            int received = 0;
            long announced = 0;
            long gapTo = 0;
            while (true)
            {
                string text = await slow.ReadTextAsync();
                using JsonDocument document = JsonDocument.Parse(text);
                string type = document.RootElement.GetProperty("type").GetString()!;
                if (type == "pong")
                {
                    break;
                }

                if (type == "gap")
                {
                    Assert.Equal(Channel, document.RootElement.GetProperty("channel").GetString());
                    Assert.Equal(lastSeq + 1, document.RootElement.GetProperty("from").GetInt64());
                    gapTo = document.RootElement.GetProperty("to").GetInt64();
                    announced += gapTo - lastSeq;
                    continue;
                }

                long seq = document.RootElement.GetProperty("seq").GetInt64();
                Assert.Equal(gapTo > lastSeq ? gapTo + 1 : lastSeq + 1, seq);
                Assert.Equal(Expected((int)seq), text);
                lastSeq = seq;
                received++;
            }

            Assert.Equal(total, received + slowConnection.MessagesSkipped);
            Assert.False(slowConnection.IsCongested);

            // Drained, the slow client gets new messages again: after the notice of what it missed last, if anything.
            await server.Server.Publisher.PublishAsync(Channel, Data(total + 1));
            if (lastSeq < total)
            {
                Assert.Equal($$"""{"type":"gap","channel":"{{Channel}}","from":{{lastSeq + 1}},"to":{{total}}}""", await slow.ReadTextAsync());
                announced += total - lastSeq;
            }

            Assert.Equal(slowConnection.MessagesSkipped, announced);
            Assert.Equal(Expected(total + 1), await slow.ReadTextAsync());
        }
        finally
        {
            foreach (TestClient client in fast)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(TransportSetups.All), MemberType = typeof(TransportSetups))]
    public async Task Client_over_the_limit_longer_than_MaxCongestedTime_is_closed(TransportEngine engine, bool directSends)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            TransportSetups.Apply(o, engine, directSends);
            o.SlowConsumer.MaxBufferedBytes = 16 * 1024;
            o.SlowConsumer.MaxCongestedTime = TimeSpan.FromSeconds(1);
        });
        await using RawClient slow = await ConnectSlowClientAsync(server);
        WebSocketConnection slowConnection = server.State.Connections.All.Single();
        await using TestClient fast = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(fast, Channel);
        var receiver = new OrderedReceiver(fast, Expected, MaxMessages);
        int[] published = [0];

        await PublishUntilSkippedAsync(server, slowConnection, [receiver], published, extraAfterSkip: 0);
        var congested = System.Diagnostics.Stopwatch.StartNew();

        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the slow client to be closed", TimeSpan.FromSeconds(10));
        TestContext.Current.TestOutputHelper?.WriteLine($"Slow client closed {congested.ElapsedMilliseconds} ms after its first skip");
        Assert.True(congested.Elapsed >= TimeSpan.FromMilliseconds(500), $"Closed after only {congested.ElapsedMilliseconds} ms of congestion");
        Assert.Equal(1, server.State.Metrics.SlowConsumerCloses);
        Assert.Equal(1, server.State.Channels.TryGet(Channel, out Channels.Channel? channel) ? channel.SubscriberCount : 0);

        // Its TCP connection is gone (whatever it had buffered can still be read first) ...
        await slow.ReadToEndAsync();

        // ... and the client that reads carries on undisturbed.
        await OrderedReceiver.WaitForAllAsync([receiver], published[0]);
        await server.Server.Publisher.PublishAsync(Channel, Data(published[0] + 1));
        await OrderedReceiver.WaitForAllAsync([receiver], published[0] + 1);
    }

    private static async Task<RawClient> ConnectSlowClientAsync(TestServer server)
    {
        // A small receive buffer, so the kernel fills up quickly once the client stops reading.
        RawClient slow = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint, receiveBufferSize: 4096);
        await slow.SendTextAsync($$"""{"type":"subscribe","channels":["{{Channel}}"]}""");
        Acks.AssertSubscribed(await slow.ReadTextAsync(), [Channel]);
        await TestServer.WaitUntilAsync(() => server.State.Connections.Count == 1, "the slow client to be registered");
        return slow;
    }

    /// <summary>
    /// Publishes bursts, waiting after each until the reading clients have it all, until the slow connection has
    /// been skipped; then <paramref name="extraAfterSkip"/> more. Returns the message number of the first skip.
    /// </summary>
    private static async Task<int> PublishUntilSkippedAsync(TestServer server, WebSocketConnection slow, List<OrderedReceiver> receivers, int[] published, int extraAfterSkip)
    {
        int skippedAt = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (skippedAt == 0 || published[0] < skippedAt + extraAfterSkip)
        {
            Assert.True(published[0] + Burst <= MaxMessages, $"The slow client was never skipped after {published[0]} messages of ~2 KB");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"Took too long: {published[0]} messages published");
            for (int i = 0; i < Burst; i++)
            {
                published[0]++;
                await server.Server.Publisher.PublishAsync(Channel, Data(published[0]));
            }

            await OrderedReceiver.WaitForAllAsync(receivers, published[0]);
            if (skippedAt == 0 && slow.MessagesSkipped > 0)
            {
                skippedAt = published[0];
            }
        }

        return skippedAt;
    }

    private static string Data(int n) => $$"""{"n":{{n}},"pad":"{{Padding}}"}""";

    private static string Expected(int n) => $$"""{"type":"message","channel":"{{Channel}}","seq":{{n}},"data":{{Data(n)}}}""";
}
