using System.Text.Json;
using FastWs.Client.Tests.TestSupport;
using FastWs.Server.Channels;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>Subscribe, the stream, refusals, unsubscribe, cancellation and backpressure against a real server.</summary>
public sealed class ClientStreamTests
{
    [Fact]
    public async Task A_subscription_streams_each_message_with_channel_seq_and_its_data()
    {
        await using Harness harness = await Harness.StartAsync(o => o.Namespaces["bench"].Format = FastWs.Server.Hosting.MessageFormat.Envelope);
        await using FastWsClient client = harness.Client();
        await client.ConnectAsync();
        Assert.True(client.IsConnected);
        Assert.NotNull(client.ConnectionId);

        FastWsSubscription trades = await client.SubscribeAsync("trades:SOL");
        FastWsSubscription bench = await client.SubscribeAsync("bench:1");
        Assert.Equal(0, trades.Position!.Value.Seq);
        for (int i = 1; i <= 3; i++)
        {
            await harness.PublishAsync("trades:SOL", i);
            await harness.PublishAsync("bench:1", i);
        }

        List<FastWsMessage> inline = await Harness.TakeAsync(trades, 3);
        Assert.Equal([1L, 2L, 3L], inline.Select(m => m.Seq));
        Assert.All(inline, m => Assert.Equal("trades:SOL", m.Channel));
        Assert.Equal([1, 2, 3], inline.Select(m => m.Data.GetProperty("n").GetInt32())); // inline: the object itself
        List<FastWsMessage> envelope = await Harness.TakeAsync(bench, 3);
        Assert.Equal([1, 2, 3], envelope.Select(m => m.Deserialize<Payload>()!.N)); // envelope: data
        Assert.Equal("message", envelope[0].Raw.GetProperty("type").GetString());
        Assert.Equal(3, trades.Position!.Value.Seq);
    }

    private sealed record Payload(int N);

    [Fact]
    public async Task Refused_subscribes_throw_FastWsException_with_the_servers_code_and_the_client_goes_on()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();

        FastWsException invalid = await Assert.ThrowsAsync<FastWsException>(() => client.SubscribeAsync("nope:1"));
        Assert.Equal("invalid_channel", invalid.Code);
        Assert.Equal("nope:1", invalid.Channel);
        FastWsException forbidden = await Assert.ThrowsAsync<FastWsException>(() => client.SubscribeAsync("intent:abc"));
        Assert.Equal("forbidden", forbidden.Code);
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await client.SubscribeAsync("trades:SOL");
            await client.SubscribeAsync("trades:SOL");
        });
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Unsubscribe_completes_on_the_ack_leaves_the_channel_and_ends_the_stream()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();
        FastWsSubscription subscription = await client.SubscribeAsync("trades:SOL");
        Assert.True(harness.Server.State.Channels.TryGet("trades:SOL", out Channel? channel));
        Assert.Equal(1, channel.SubscriberCount);

        await subscription.UnsubscribeAsync();

        Assert.Equal(0, channel.SubscriberCount);
        Assert.Empty(await Harness.TakeAsync(subscription, 1)); // the stream ended: the enumeration finishes
        await client.SubscribeAsync("trades:SOL"); // and the channel can be subscribed again
    }

    [Fact]
    public async Task Cancellation_ends_waits_without_ending_the_subscription()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();
        using (var cancelled = new CancellationTokenSource())
        {
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SubscribeAsync("trades:SOL", cancelled.Token));
        }

        FastWsSubscription subscription = await client.SubscribeAsync("trades:BTC");
        using (var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (FastWsMessage _ in subscription.WithCancellation(soon.Token))
                {
                }
            });
        }

        await harness.PublishAsync("trades:BTC", 1);
        Assert.Equal(1, (await Harness.TakeAsync(subscription, 1))[0].Seq); // still subscribed

        // A client that cannot reach any server: ConnectAsync gives up when its token does (the client keeps trying).
        await using var nowhere = new FastWsClient(new Uri("ws://127.0.0.1:1/ws"), Harness.FastOptions());
        using var shortly = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => nowhere.ConnectAsync(shortly.Token));
        Assert.NotEqual(FastWsClientState.Open, nowhere.State);
    }

    [Fact]
    public async Task A_reader_that_falls_behind_holds_the_socket_reader_back_and_loses_nothing()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client(o => o.BufferCapacity = 4);
        FastWsSubscription subscription = await client.SubscribeAsync("trades:SOL");
        for (int i = 1; i <= 200; i++)
        {
            await harness.PublishAsync("trades:SOL", i);
        }

        // Nobody reads: the buffer fills to its capacity and no further (the rest waits in the socket).
        await TestServer.WaitUntilAsync(() => subscription.Buffered == 4, "the buffer to fill");
        await Task.Delay(200);
        Assert.Equal(4, subscription.Buffered);

        List<FastWsMessage> all = await Harness.TakeAsync(subscription, 200);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), all.Select(m => m.Seq));
        Assert.True(client.IsConnected, "waiting for the reader is not a dead server");
    }

    [Fact]
    public async Task Messages_sent_to_the_connection_by_id_are_raised_as_MessageReceived()
    {
        await using Harness harness = await Harness.StartAsync();
        await using FastWsClient client = harness.Client();
        var received = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.MessageReceived += (_, e) => received.TrySetResult(e.Message);
        await client.ConnectAsync();

        Assert.Equal(FastWs.Server.Connections.ConnectionCommandResult.Sent, harness.Server.Server.Connections.SendToConnection(client.ConnectionId!, """{"hello":"you"}"""u8));

        JsonElement message = await received.Task.WaitAsync(TestServer.DefaultTimeout);
        Assert.Equal("you", message.GetProperty("hello").GetString());
    }
}
