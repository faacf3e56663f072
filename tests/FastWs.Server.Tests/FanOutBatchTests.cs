using System.Net;
using System.Text;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// Which writes of a fan-out batch go straight to the socket and which wait for the batch's flush, seen as the
/// sequence of socket writes: a subscriber's messages of one batch share one write, and a message nothing later
/// in the batch is for goes out before the later messages' sends, not after them.
/// </summary>
public sealed class FanOutBatchTests : IAsyncDisposable
{
    private const string A = "price:A";
    private const string B = "price:B";
    private const string C = "price:C";

    private readonly ServerState _state;
    private readonly SubscriptionManager _subscriptions;
    private readonly List<string> _writes = [];

    public FanOutBatchTests()
    {
        var options = new FastWsOptions { FanOutShards = 1 };
        TestServer.PlainNamespaces(options);
        _state = new ServerState(options);
        _subscriptions = new SubscriptionManager(_state);
    }

    /// <summary>A socket with room for everything that logs each write, as the frames' JSON texts, in the order of all writes.</summary>
    private sealed class RecordingSocket(string name, List<string> writes) : ISocketSender
    {
        public int TrySend(ReadOnlySpan<byte> bytes)
        {
            lock (writes)
            {
                writes.Add(Write(name, Texts(bytes)));
            }

            return bytes.Length;
        }

        public ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes) => new(TrySend(bytes.Span) == bytes.Length);

        private static string[] Texts(ReadOnlySpan<byte> frames)
        {
            var texts = new List<string>();
            while (!frames.IsEmpty)
            {
                Assert.Equal(0x81, frames[0]); // one unmasked, final text frame per message
                int length = frames[1];
                int header = 2;
                if (length == 126)
                {
                    length = (frames[2] << 8) | frames[3];
                    header = 4;
                }

                texts.Add(Encoding.UTF8.GetString(frames.Slice(header, length)));
                frames = frames[(header + length)..];
            }

            return [.. texts];
        }
    }

    [Fact]
    public async Task Messages_on_different_channels_go_out_in_publish_order_and_a_two_channel_subscriber_gets_both_in_one_write()
    {
        Subscribe("onlyA", A);
        Subscribe("onlyB", B);
        Subscribe("both", A, B);

        await PublishOneBatchAsync((A, 1), (B, 2));

        // onlyA's message is not held back behind B's send (it was, when only a batch's last message went straight out).
        Assert.Equal(
            [Write("onlyA", Message(A, 1, 1)), Write("onlyB", Message(B, 1, 2)), Write("both", Message(A, 1, 1), Message(B, 1, 2))],
            _writes);
    }

    [Fact]
    public async Task A_subscribers_messages_of_one_batch_on_one_channel_share_one_write()
    {
        Subscribe("onlyA", A);
        Subscribe("onlyB", B);

        await PublishOneBatchAsync((A, 1), (A, 2), (B, 3), (A, 4), (B, 5));

        Assert.Equal(
            [Write("onlyA", Message(A, 1, 1), Message(A, 2, 2), Message(A, 3, 4)), Write("onlyB", Message(B, 1, 3), Message(B, 2, 5))],
            _writes);
    }

    [Fact]
    public async Task A_channel_done_early_in_the_batch_goes_out_before_the_rest_of_the_batch()
    {
        Subscribe("onlyA", A);
        Subscribe("onlyB", B);
        Subscribe("onlyC", C);

        await PublishOneBatchAsync((A, 1), (B, 2), (C, 3), (B, 4));

        // A's and C's only messages go straight out; B's two, with C's between them, share the flush after the batch.
        Assert.Equal(
            [Write("onlyA", Message(A, 1, 1)), Write("onlyC", Message(C, 1, 3)), Write("onlyB", Message(B, 1, 2), Message(B, 2, 4))],
            _writes);
    }

    [Fact]
    public async Task A_run_of_one_channels_messages_goes_straight_out_as_one_write_when_the_channel_is_done()
    {
        Subscribe("onlyA", A);
        Subscribe("onlyB", B);

        await PublishOneBatchAsync((A, 1), (A, 2), (B, 3));

        // A's two messages are encoded back to back and sent at once, before B's.
        Assert.Equal([Write("onlyA", Message(A, 1, 1), Message(A, 2, 2)), Write("onlyB", Message(B, 1, 3))], _writes);
    }

    [Fact]
    public async Task Large_messages_split_a_run_and_still_arrive_whole_and_in_order()
    {
        Subscribe("onlyA", A);
        string big = "\"" + new string('x', 40_000) + "\"";
        foreach (int n in new[] { 1, 2, 3 })
        {
            await _state.Publisher.PublishValidatedAsync(A, Encoding.UTF8.GetBytes(big), CancellationToken.None, deferDelivery: true);
        }

        _state.Publisher.DeliverQueued();

        // Past 64 KB the run ends (two messages, then one); the subscriber's writes are still one flush, in order.
        string Big(int seq) => $$"""{"type":"message","channel":"{{A}}","seq":{{seq}},"data":{{big}}}""";
        Assert.Equal([Write("onlyA", Big(1), Big(2), Big(3))], _writes);
    }

    [Fact]
    public async Task A_batch_of_one_goes_straight_out_to_every_subscriber()
    {
        Subscribe("onlyA", A);
        Subscribe("both", A, B);

        await PublishOneBatchAsync((A, 7));

        Assert.Equal([Write("onlyA", Message(A, 1, 7)), Write("both", Message(A, 1, 7))], _writes);
    }

    [Fact]
    public async Task A_run_of_one_channels_messages_is_counted_message_by_message_delivered_and_skipped()
    {
        Subscribe("onlyA", A);
        Subscribe("both", A, B);
        var stuck = new FullSocket(); // never drained
        var congested = new WebSocketConnection(DetachedContext.Create(stuck), _state.Metrics, IPAddress.Loopback, maxUnsentBytes: 16);
        Assert.True(_subscriptions.Subscribe(congested, A, out _).IsOk);
        await PublishOneBatchAsync((A, 1)); // more than 16 bytes stay unsent: congested from here on
        Assert.True(congested.IsCongested);
        long deliveredBefore = _state.Metrics.MessagesOut;

        await PublishOneBatchAsync((A, 2), (A, 3), (A, 4));

        // One run of three frames, written once to each reader, and three messages skipped for the stuck one.
        Assert.Equal([Write("onlyA", Message(A, 2, 2), Message(A, 3, 3), Message(A, 4, 4)), Write("both", Message(A, 2, 2), Message(A, 3, 3), Message(A, 4, 4))], _writes);
        Assert.Equal(6, _state.Metrics.MessagesOut - deliveredBefore);
        Assert.Equal(3, congested.MessagesSkipped);
        Assert.Equal(3, _state.Metrics.MessagesSkipped);
    }

    public async ValueTask DisposeAsync() => await _state.DisposeAsync();

    private void Subscribe(string name, params string[] channels)
    {
        var connection = new WebSocketConnection(DetachedContext.Create(new RecordingSocket(name, _writes)), _state.Metrics, IPAddress.Loopback);
        foreach (string channel in channels)
        {
            Assert.True(_subscriptions.Subscribe(connection, channel, out _).IsOk);
        }
    }

    /// <summary>Queues every message first and then delivers, as a publisher's read loop does with the publishes of one read.</summary>
    private async Task PublishOneBatchAsync(params (string Channel, int N)[] messages)
    {
        _writes.Clear();
        foreach ((string channel, int n) in messages)
        {
            await _state.Publisher.PublishValidatedAsync(channel, Encoding.UTF8.GetBytes(Data(n)), CancellationToken.None, deferDelivery: true);
        }

        Assert.Empty(_writes);
        _state.Publisher.DeliverQueued();
    }

    /// <summary>One socket write as the tests compare it: the connection and the messages in it.</summary>
    private static string Write(string connection, params string[] messages) => connection + " <- " + string.Join(" + ", messages);

    private static string Data(int n) => $$"""{"n":{{n}}}""";

    private static string Message(string channel, long seq, int n) => $$"""{"type":"message","channel":"{{channel}}","seq":{{seq}},"data":{{Data(n)}}}""";
}
