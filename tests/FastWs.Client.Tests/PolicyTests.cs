using FastWs.Client.Tests.TestSupport;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>Gap notices recovered with since, and a close the client must not answer with a reconnect loop (1008, key-group limit).</summary>
public sealed class PolicyTests
{
    [Fact]
    public async Task Messages_the_server_skipped_for_a_slow_reader_are_recovered_after_the_gap_notice()
    {
        await using Harness harness = await Harness.StartAsync(o =>
        {
            o.SlowConsumer.MaxBufferedBytes = 16 * 1024;
            o.SlowConsumer.SocketSendBufferBytes = 16 * 1024;
            o.Namespaces["trades"].History.Size = 5000;
            o.Namespaces["trades"].History.MaxBytes = 0;
        });
        await using FastWsClient client = harness.Client(o => o.BufferCapacity = 1);
        var gaps = new List<FastWsGapEventArgs>();
        client.Gap += (_, e) => { lock (gaps) { gaps.Add(e); } };
        FastWsSubscription subscription = await client.SubscribeAsync("trades:SOL");

        // Nobody reads: the client holds its socket reader back, the kernel buffers and the relay fill, and the server
        // skips what it cannot send (over 16 KB of unsent output).
        string padding = new('x', 4000);
        for (int i = 1; i <= 2000; i++)
        {
            await harness.Server.Server.Publisher.PublishAsync("trades:SOL", $$"""{"n":{{i}},"p":"{{padding}}"}""");
        }

        Assert.True(harness.Server.State.Metrics.MessagesSkipped > 0, "the server skipped messages for the slow reader");

        // Now read. A gap notice goes out with the channel's next message once the backlog has drained, so keep
        // publishing one every 50 ms until the reader has everything up to the latest.
        var seen = new List<FastWsMessage>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task reader = Task.Run(async () =>
        {
            await foreach (FastWsMessage m in subscription.WithCancellation(stop.Token))
            {
                lock (seen)
                {
                    seen.Add(m);
                }
            }
        });
        int published = 2000;
        while (true)
        {
            lock (seen)
            {
                if (seen.Count > 0 && seen[^1].Seq == published && published > 2000)
                {
                    break;
                }
            }

            Assert.False(stop.IsCancellationRequested, $"the reader got {seen.Count} messages, up to seq {(seen.Count > 0 ? seen[^1].Seq : 0)} of {published}");
            await harness.Server.Server.Publisher.PublishAsync("trades:SOL", $$"""{"n":{{++published}}}""");
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader);
        List<FastWsMessage> all;
        lock (seen)
        {
            all = [.. seen];
        }

        Assert.Equal(Enumerable.Range(1, published).Select(i => (long)i), all.Select(m => m.Seq));
        Assert.Equal(Enumerable.Range(1, published), all.Select(m => m.Data.GetProperty("n").GetInt32()));
        Assert.True(harness.Server.State.Metrics.GapNotices >= 1);
        Assert.True(harness.Server.State.Metrics.MessagesReplayed > 0, "the skipped messages came from the history");
        lock (gaps)
        {
            Assert.NotEmpty(gaps);
            Assert.Equal("trades:SOL", gaps[0].Channel);
        }
    }

    [Fact]
    public async Task A_key_group_limit_close_stops_the_client_instead_of_looping()
    {
        await using Harness harness = await Harness.StartAsync(o =>
        {
            o.Limits.MaxSubscribersPerKeyGroup = 1;
            o.Limits.KeyGroupLimitAction = KeyGroupLimitAction.Close;
        });
        await using FastWsClient first = harness.Client();
        await first.SubscribeAsync("trades:SOL");
        await using FastWsClient second = harness.Client();
        var closes = new List<FastWsClosedEventArgs>();
        second.Closed += (_, e) => { lock (closes) { closes.Add(e); } };

        FastWsException refused = await Assert.ThrowsAsync<FastWsException>(() => second.SubscribeAsync("trades:SOL"));

        Assert.Equal("limit_exceeded", refused.Code);
        await TestServer.WaitUntilAsync(() => second.State == FastWsClientState.Closed, "the second client to stop");
        await Task.Delay(500); // a loop would reconnect within 300 ms
        Assert.Equal(2, harness.Proxy.Accepted);
        lock (closes)
        {
            FastWsClosedEventArgs close = Assert.Single(closes);
            Assert.Equal(1008, close.Code);
            Assert.False(close.WillReconnect);
        }

        Assert.True(first.IsConnected);
    }
}
