using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>Connections come and go by the thousand and leave no channel entries or connection state behind.</summary>
[Collection(HeavyCollection.Name)]
public sealed class ChurnTests
{
    private const int Cycles = 10_000;
    private const int Concurrency = 32;

    /// <summary>How each cycle ends; all of them must clean up the same.</summary>
    private enum Ending
    {
        /// <summary>ClientWebSocket with a full close handshake.</summary>
        ClientWebSocketClose,

        /// <summary>Raw client: close frame, wait for the echo.</summary>
        CloseHandshake,

        /// <summary>Raw client: TCP connection dropped right after the ack.</summary>
        DropAfterAck,

        /// <summary>Raw client: dropped right after sending the subscribe, racing the server's handling of it.</summary>
        DropWithoutWaiting,
    }

    /// <summary>Returns the first message that is not a data message (the ack), skipping data that raced ahead of it.</summary>
    private static async Task<string> SkipDataAsync(Func<Task<string>> receive)
    {
        while (true)
        {
            string text = await receive();
            if (!text.StartsWith("""{"type":"message",""", StringComparison.Ordinal))
            {
                return text;
            }
        }
    }

    [Fact]
    public async Task Ten_thousand_connect_subscribe_disconnect_cycles_leave_nothing_behind()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient observer = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(observer, "bench:churn");

        // Messages keep flowing to a channel every cycle subscribes to, so fan-out races with connections ending.
        using var stopPublishing = new CancellationTokenSource();
        Task<int> publisher = Task.Run(async () =>
        {
            int n = 0;
            while (!stopPublishing.IsCancellationRequested)
            {
                n++;
                FanOut.PublishResult result = await server.Server.Publisher.PublishAsync("bench:churn", $$"""{"n":{{n}}}""");
                Assert.Equal(FanOut.PublishOutcome.Queued, result.Outcome);
                await Task.Delay(1);
            }

            return n;
        });

        var watch = Stopwatch.StartNew();
        int[] endings = new int[4];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await Parallel.ForAsync(0, Cycles, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = timeout.Token }, async (i, _) =>
        {
            Ending ending = (Ending)(i % 4);
            Interlocked.Increment(ref endings[(int)ending]);

            // A shared channel, one of a few dozen shared by some, and one of the connection's own.
            string subscribe = $$"""{"type":"subscribe","channels":["bench:churn","price:K{{i % 50}}","bench:own{{i}}"],"id":{{i}}}""";
            string[] expectedChannels = ["bench:churn", $"price:K{i % 50}", $"bench:own{i}"];
            string expectedId = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (ending == Ending.ClientWebSocketClose)
            {
                await using TestClient client = await server.ConnectAsync();
                await client.SendAsync(subscribe);
                Acks.AssertSubscribed(await SkipDataAsync(() => client.ReceiveAsync()), expectedChannels, expectedId);
                await client.CloseAsync();
                return;
            }

            await using RawClient raw = await RawClient.ConnectAsync(server.WebSocketEndPoint);

            // The upgrade request and the subscribe go out in one write.
            byte[] request = Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));
            await raw.SendAsync(request.Concat(RawClient.MaskedText(subscribe)).ToArray());
            if (ending == Ending.DropWithoutWaiting)
            {
                return;
            }

            Assert.Equal(101, (await raw.ReadHttpResponseAsync()).StatusCode);
            Acks.AssertSubscribed(await SkipDataAsync(() => raw.ReadTextAsync()), expectedChannels, expectedId);
            if (ending == Ending.CloseHandshake)
            {
                await raw.SendCloseAsync(Protocol.Frames.CloseCode.NormalClosure);
                RawFrame echo;
                do
                {
                    echo = await raw.ReadFrameAsync(); // data frames may still come before the close echo
                }
                while (echo.Type == Protocol.Frames.WebSocketMessageType.Text);

                Assert.Equal(Protocol.Frames.WebSocketMessageType.Close, echo.Type);
                Assert.Equal(Protocol.Frames.CloseCode.NormalClosure, echo.CloseStatus);
            }
        });

        await stopPublishing.CancelAsync();
        int published = await publisher.WaitAsync(TimeSpan.FromSeconds(10));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Cycles} cycles in {watch.ElapsedMilliseconds} ms, {published} messages published meanwhile ({string.Join(", ", Enum.GetValues<Ending>().Select(e => $"{e}: {endings[(int)e]}"))})");

        // Only the observer is left: no connection state, no channel entries but its own.
        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 1 && server.State.Metrics.ConnectionsActive == 1 && server.State.Channels.Count == 1,
            $"cleanup to settle (connections {server.State.Connections.Count}, active {server.State.Metrics.ConnectionsActive}, channels {server.State.Channels.Count})");
        Assert.True(server.State.Channels.TryGet("bench:churn", out Channels.Channel? shared));
        Assert.Equal(1, shared.SubscriberCount);

        // The observer got every message, in order, undisturbed by 10,000 subscribers passing through; and the
        // channel's fan-out loop is still alive afterwards.
        for (int n = 1; n <= published; n++)
        {
            Assert.Equal($$$"""{"type":"message","channel":"bench:churn","seq":{{{n}}},"data":{"n":{{{n}}}}}""", await observer.ReceiveAsync());
        }

        await server.Server.Publisher.PublishAsync("bench:churn", "\"still here\"");
        Assert.Equal($$"""{"type":"message","channel":"bench:churn","seq":{{published + 1}},"data":"still here"}""", await observer.ReceiveAsync());

        await observer.CloseAsync();
        await TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0 && server.State.Metrics.ConnectionsActive == 0 && server.State.Channels.Count == 0,
            $"everything to be gone (connections {server.State.Connections.Count}, active {server.State.Metrics.ConnectionsActive}, channels {server.State.Channels.Count})");
        Assert.True(server.State.Metrics.ConnectionsTotal >= Cycles * 3 / 4, $"Only {server.State.Metrics.ConnectionsTotal} connections were served");
        Assert.Equal(WebSocketState.Closed, observer.Socket.State);
    }
}
