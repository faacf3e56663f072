using FastWs.Client.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>Reconnects: a dropped connection recovered gaplessly with since, a restarted server reset with its snapshot, liveness.</summary>
public sealed class RecoveryTests
{
    [Fact]
    public async Task A_connection_dropped_without_a_close_frame_comes_back_and_the_stream_stays_gapless()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();
        var opened = new List<FastWsOpenedEventArgs>();
        var closed = new List<FastWsClosedEventArgs>();
        int resets = 0;
        client.Opened += (_, e) => { lock (opened) { opened.Add(e); } };
        client.Closed += (_, e) => { lock (closed) { closed.Add(e); } };
        client.Reset += (_, _) => Interlocked.Increment(ref resets);
        FastWsSubscription subscription = await client.SubscribeAsync("trades:SOL");
        await harness.PublishAsync("trades:SOL", 1);
        await Harness.TakeAsync(subscription, 1);

        Assert.Equal(1, harness.Proxy.DropAll()); // an RST both ways: no close frame
        for (int i = 2; i <= 30; i++)
        {
            await harness.PublishAsync("trades:SOL", i); // published while it is away (the server keeps 1,000)
        }

        await TestServer.WaitUntilAsync(() => { lock (opened) { return opened.Count == 2; } }, "the client to come back");
        for (int i = 31; i <= 40; i++)
        {
            await harness.PublishAsync("trades:SOL", i);
        }

        List<FastWsMessage> rest = await Harness.TakeAsync(subscription, 39);
        Assert.Equal(Enumerable.Range(2, 39).Select(i => (long)i), rest.Select(m => m.Seq));
        Assert.All(rest, m => Assert.Equal(FastWsMessageKind.Data, m.Kind));
        Assert.Equal(0, resets);
        Assert.True(opened[1].Reconnected);
        Assert.Equal(1006, closed[0].Code);
        Assert.True(closed[0].WillReconnect);
        Assert.Equal(1, harness.Server.State.Metrics.Recoveries);
        // 2..30 at least (31..40 too when they were published before the resubscribe reached the server).
        Assert.InRange(harness.Server.State.Metrics.MessagesReplayed, 29, 39);
    }

    [Fact]
    public async Task A_restarted_server_gives_an_explicit_reset_then_the_snapshot_and_the_new_epochs_messages()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();
        var resets = new List<FastWsResetEventArgs>();
        client.Reset += (_, e) => { lock (resets) { resets.Add(e); } };
        FastWsSubscription trades = await client.SubscribeAsync("trades:SOL");
        FastWsSubscription funding = await client.SubscribeAsync("funding:SOL");
        await harness.PublishAsync("trades:SOL", 1);
        await harness.PublishAsync("funding:SOL", 1);
        await Harness.TakeAsync(trades, 1);
        await Harness.TakeAsync(funding, 1);
        FastWsPosition before = trades.Position!.Value;

        // A graceful stop (1001) and a new server: new epochs, no history. It has a funding rate before the client is back.
        await harness.RestartAsync(() => harness.PublishAsync("funding:SOL", 7));
        await TestServer.WaitUntilAsync(() => client.IsConnected && harness.Server.State.Connections.Count == 1, "the client to reconnect to the new server");

        FastWsMessage reset = (await Harness.TakeAsync(trades, 1))[0];
        Assert.Equal(FastWsMessageKind.Reset, reset.Kind);
        Assert.Equal(before, reset.Previous);
        Assert.NotEqual(before.Epoch, reset.Epoch);
        Assert.Equal(0, reset.Seq);

        List<FastWsMessage> fundingItems = await Harness.TakeAsync(funding, 2);
        Assert.Equal(FastWsMessageKind.Reset, fundingItems[0].Kind);
        Assert.True(fundingItems[1].IsSnapshot);
        Assert.Equal(7, fundingItems[1].Data.GetProperty("n").GetInt32());
        Assert.Equal(1, fundingItems[1].Seq);

        await harness.PublishAsync("trades:SOL", 2);
        FastWsMessage next = (await Harness.TakeAsync(trades, 1))[0];
        Assert.Equal(1, next.Seq); // the new epoch counts from 1
        Assert.Equal(reset.Epoch, next.Epoch);
        lock (resets)
        {
            Assert.Equal(["funding:SOL", "trades:SOL"], resets.Select(r => r.Channel).Order());
        }
    }

    [Fact]
    public async Task A_silent_server_is_pinged_then_given_up_and_the_client_reconnects_and_recovers()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client(o =>
        {
            o.IdleTimeout = TimeSpan.FromMilliseconds(300);
            o.PongTimeout = TimeSpan.FromMilliseconds(300);
        });
        var closed = new TaskCompletionSource<FastWsClosedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Closed += (_, e) => closed.TrySetResult(e);
        FastWsSubscription subscription = await client.SubscribeAsync("trades:SOL");

        await Task.Delay(800); // idle but answered: the ping's pong keeps it up
        Assert.True(client.IsConnected);
        Assert.False(closed.Task.IsCompleted);

        harness.Proxy.Frozen = true; // a half-open connection: nothing arrives, nothing fails
        await harness.PublishAsync("trades:SOL", 1);
        FastWsClosedEventArgs dropped = await closed.Task.WaitAsync(TestServer.DefaultTimeout);
        Assert.Equal(1006, dropped.Code);
        Assert.Contains("server silent for 600 ms", dropped.Reason, StringComparison.Ordinal);
        harness.Proxy.DropAll();
        harness.Proxy.Frozen = false;

        Assert.Equal(1, (await Harness.TakeAsync(subscription, 1))[0].Seq); // recovered on the new connection
    }
}
