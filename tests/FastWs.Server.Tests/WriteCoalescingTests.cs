using System.Net;
using System.Text;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// Write coalescing (<c>Namespaces:NAME:WriteDelay</c>), seen as the sequence of socket writes on a fake clock: a
/// subscriber's messages within the delay after the first go in one write; without a delay every write is as before;
/// anything flushed sooner (another namespace's data, a close, shutdown) takes the held messages with it.
/// </summary>
public sealed class WriteCoalescingTests : IAsyncDisposable
{
    private const string Delayed = "price:A";
    private const string Delayed2 = "price:B";
    private const string Plain = "trades:A";
    private static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(2);

    private readonly FakeTimeProvider _clock = new();
    private readonly ServerState _state;
    private readonly SubscriptionManager _subscriptions;
    private readonly List<string> _writes = [];

    public WriteCoalescingTests()
    {
        var options = new FastWsOptions { FanOutShards = 1 };
        TestServer.PlainNamespaces(options);
        options.Namespaces["price"].WriteDelay = Delay;
        _state = new ServerState(options, _clock);
        _subscriptions = new SubscriptionManager(_state);
    }

    [Fact]
    public async Task Messages_within_the_delay_after_the_first_go_out_in_one_write_when_it_ends()
    {
        Subscribe("c", Delayed);

        await PublishAsync(Delayed, 1);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await PublishAsync(Delayed, 2);
        await PublishAsync(Delayed, 3);
        Assert.Empty(_writes);

        // The deadline is the first held message's time + the delay, not the last one's.
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([Write("c", Message(Delayed, 1, 1), Message(Delayed, 2, 2), Message(Delayed, 3, 3))], _writes);
        Assert.Equal(0, Waiting);

        // The next message starts a new delay.
        _writes.Clear();
        await PublishAsync(Delayed, 4);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Empty(_writes);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([Write("c", Message(Delayed, 4, 4))], _writes);
    }

    [Fact]
    public async Task While_messages_flow_the_fan_out_flushes_what_is_due_with_the_batch_that_reaches_the_deadline()
    {
        Subscribe("c", Delayed);

        await PublishAsync(Delayed, 1);
        _clock.Advance(TimeSpan.FromMilliseconds(1.9)); // the timer (armed for 2 ms) has not fired
        Assert.Empty(_writes);

        // This publish's batch ends within the timer's tolerance of the deadline: the fan-out thread sends both now.
        await PublishAsync(Delayed, 2);
        Assert.Equal([Write("c", Message(Delayed, 1, 1), Message(Delayed, 2, 2))], _writes);
        Assert.Equal(0, Waiting);

        _writes.Clear();
        _clock.Advance(TimeSpan.FromMilliseconds(1)); // the timer finds nothing left
        Assert.Empty(_writes);
    }

    [Fact]
    public async Task At_a_steady_rate_a_held_write_leaves_with_the_last_message_expected_before_its_deadline()
    {
        Subscribe("c", Delayed);

        await PublishAsync(Delayed, 1); // held until 2 ms
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await PublishAsync(Delayed, 2); // the next is expected at 2 ms, in time: wait for it
        Assert.Empty(_writes);

        // The third comes a little early (1.8 ms): the one after it is not expected before the deadline, so waiting
        // would add nothing to the write. It leaves now, from the fan-out, with all three.
        _clock.Advance(TimeSpan.FromMilliseconds(0.8));
        await PublishAsync(Delayed, 3);
        Assert.Equal([Write("c", Message(Delayed, 1, 1), Message(Delayed, 2, 2), Message(Delayed, 3, 3))], _writes);
        Assert.Equal(1, _state.Publisher.Coalescer.FlushedEarly);

        _writes.Clear();
        _clock.Advance(TimeSpan.FromMilliseconds(1)); // the timer's entry is stale: nothing more goes
        Assert.Empty(_writes);
        Assert.Equal(0, _state.Publisher.Coalescer.FlushedByTimer);
    }

    [Fact]
    public async Task In_a_steady_stream_the_timer_never_wakes_and_a_subscriber_gone_mid_hold_still_gets_what_it_held()
    {
        Subscribe("a", Delayed);
        WebSocketConnection leaver = Subscribe("b", Delayed);

        // One message every 0.85 ms with a 2 ms delay: each third message's run takes the held writes with it, and
        // takes their group out of the timer's hands (the timer is moved on, or disarmed), so it never wakes.
        for (int n = 1; n <= 30; n++)
        {
            await PublishAsync(Delayed, n);
            if (n == 7)
            {
                Assert.True(_subscriptions.Unsubscribe(leaver, Delayed).IsOk); // with message 7 held
            }

            _clock.Advance(TimeSpan.FromMilliseconds(0.85)); // never within the fan-out's 0.25 ms tolerance of a deadline;
        }

        string[] a = [.. _writes.Where(w => w.StartsWith("a <- ", StringComparison.Ordinal))];
        Assert.Equal(10, a.Length);
        for (int w = 0; w < 10; w++)
        {
            Assert.Equal(Write("a", Message(Delayed, 3 * w + 1, 3 * w + 1), Message(Delayed, 3 * w + 2, 3 * w + 2), Message(Delayed, 3 * w + 3, 3 * w + 3)), a[w]);
        }

        // Message 9's run took the group holding 7 for both; b was no longer written to, so the batch's end sent it.
        Assert.Equal(
            [Write("b", Message(Delayed, 1, 1), Message(Delayed, 2, 2), Message(Delayed, 3, 3)), Write("b", Message(Delayed, 4, 4), Message(Delayed, 5, 5), Message(Delayed, 6, 6)), Write("b", Message(Delayed, 7, 7))],
            _writes.Where(w => w.StartsWith("b <- ", StringComparison.Ordinal)));
        Assert.Equal(0, _state.Publisher.Coalescer.TimerLateness.Fires);
        Assert.Equal(0, _state.Publisher.Coalescer.FlushedByTimer);
        Assert.Equal(0, Waiting);
    }

    [Fact]
    public async Task A_held_write_never_leaves_more_than_half_the_delay_early()
    {
        Subscribe("c", Delayed);
        await PublishAsync(Delayed, 1);
        _clock.Advance(TimeSpan.FromMilliseconds(10)); // a pause: the timer sent it
        _writes.Clear();

        await PublishAsync(Delayed, 2); // held until 12 ms; the pause says nothing about when the next comes
        _clock.Advance(TimeSpan.FromMilliseconds(0.9));
        await PublishAsync(Delayed, 3); // 1.1 ms before the deadline: more than half the delay, so it waits
        Assert.Empty(_writes);

        _clock.Advance(TimeSpan.FromMilliseconds(0.3));
        await PublishAsync(Delayed, 4); // 0.8 ms before: within half the delay, and nothing more expected in time
        Assert.Equal([Write("c", Message(Delayed, 2, 2), Message(Delayed, 3, 3), Message(Delayed, 4, 4))], _writes);
    }

    [Fact]
    public async Task Every_subscriber_and_channel_of_the_namespace_shares_one_timer_entry_per_connection()
    {
        Subscribe("one", Delayed);
        Subscribe("two", Delayed, Delayed2);

        await PublishAsync(Delayed, 1);
        await PublishAsync(Delayed2, 2);
        Assert.Empty(_writes);
        Assert.Equal(2, Waiting); // one entry per holding connection, not per message or channel

        _clock.Advance(Delay);
        Assert.Equal(2, _writes.Count);
        Assert.Contains(Write("one", Message(Delayed, 1, 1)), _writes);
        Assert.Contains(Write("two", Message(Delayed, 1, 1), Message(Delayed2, 1, 2)), _writes);
    }

    [Fact]
    public async Task Without_a_delay_every_message_goes_out_at_once_as_before()
    {
        Subscribe("c", Plain);

        await PublishAsync(Plain, 1);
        await PublishAsync(Plain, 2);

        Assert.Equal([Write("c", Message(Plain, 1, 1)), Write("c", Message(Plain, 2, 2))], _writes);
        Assert.Equal(0, Waiting);
    }

    [Fact]
    public async Task Data_of_a_namespace_without_delay_goes_at_once_and_takes_the_held_messages_with_it_in_order()
    {
        Subscribe("mixed", Delayed, Plain);
        Subscribe("plainOnly", Plain);

        await PublishAsync(Delayed, 1);
        Assert.Empty(_writes);
        await PublishAsync(Plain, 2);

        // plainOnly's goes straight through; mixed's joins the held bytes and goes with the batch's flush.
        Assert.Equal([Write("plainOnly", Message(Plain, 1, 2)), Write("mixed", Message(Delayed, 1, 1), Message(Plain, 1, 2))], _writes);

        // The held entry is stale now: its deadline passes without another write.
        _writes.Clear();
        _clock.Advance(Delay);
        Assert.Empty(_writes);
        Assert.Equal(0, Waiting);
    }

    [Fact]
    public async Task A_close_sends_the_held_messages_before_the_close_frame()
    {
        WebSocketConnection connection = Subscribe("c", Delayed);
        await PublishAsync(Delayed, 1);
        await PublishAsync(Delayed, 2);

        Assert.True(connection.TrySendClose(CloseCode.GoingAway, "bye"));

        Assert.Equal([Write("c", Message(Delayed, 1, 1), Message(Delayed, 2, 2), "<close 1001>")], _writes);
        _writes.Clear();
        _clock.Advance(Delay);
        Assert.Empty(_writes);
    }

    [Fact]
    public async Task Draining_the_publisher_at_shutdown_flushes_what_is_held()
    {
        Subscribe("c", Delayed);
        await PublishAsync(Delayed, 1);

        await _state.Publisher.DrainAsync();

        Assert.Equal([Write("c", Message(Delayed, 1, 1))], _writes);
    }

    [Fact]
    public async Task A_held_write_the_client_cannot_take_makes_it_a_slow_consumer_and_later_messages_are_skipped_with_a_gap()
    {
        var stuck = new FullSocket();
        var congested = new WebSocketConnection(DetachedContext.Create(stuck), _state.Metrics, IPAddress.Loopback, maxUnsentBytes: 16);
        Assert.True(_subscriptions.Subscribe(congested, Delayed, out _).IsOk);

        await PublishAsync(Delayed, 1);
        Assert.False(congested.IsCongested); // held, not sent yet
        _clock.Advance(Delay);
        Assert.True(congested.IsCongested);  // the flush found the kernel's buffer full

        await PublishAsync(Delayed, 2);
        await PublishAsync(Delayed, 3);
        Assert.Equal(2, congested.MessagesSkipped);
        Assert.Equal(0, Waiting); // a skipped message holds nothing
    }

    public async ValueTask DisposeAsync() => await _state.DisposeAsync();

    private int Waiting => _state.Publisher.CoalescerWaiting;

    private WebSocketConnection Subscribe(string name, params string[] channels)
    {
        var connection = new WebSocketConnection(DetachedContext.Create(new RecordingSocket(name, _writes)), _state.Metrics, IPAddress.Loopback);
        foreach (string channel in channels)
        {
            Assert.True(_subscriptions.Subscribe(connection, channel, out _).IsOk);
        }

        return connection;
    }

    private async Task PublishAsync(string channel, int n)
    {
        await _state.Publisher.PublishValidatedAsync(channel, Encoding.UTF8.GetBytes(Data(n)), CancellationToken.None);
    }

    private static string Write(string connection, params string[] frames) => connection + " <- " + string.Join(" + ", frames);

    private static string Data(int n) => $$"""{"n":{{n}}}""";

    private static string Message(string channel, long seq, int n) => $$"""{"type":"message","channel":"{{channel}}","seq":{{seq}},"data":{{Data(n)}}}""";

    /// <summary>A socket with room for everything that logs each write as its frames (texts, or close codes), in the order of all writes.</summary>
    private sealed class RecordingSocket(string name, List<string> writes) : ISocketSender
    {
        public int TrySend(ReadOnlySpan<byte> bytes)
        {
            lock (writes)
            {
                writes.Add(Write(name, Frames(bytes)));
            }

            return bytes.Length;
        }

        public ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes) => new(TrySend(bytes.Span) == bytes.Length);

        private static string[] Frames(ReadOnlySpan<byte> frames)
        {
            var texts = new List<string>();
            while (!frames.IsEmpty)
            {
                int length = frames[1];
                int header = 2;
                if (length == 126)
                {
                    length = (frames[2] << 8) | frames[3];
                    header = 4;
                }

                ReadOnlySpan<byte> payload = frames.Slice(header, length);
                texts.Add(frames[0] switch
                {
                    0x81 => Encoding.UTF8.GetString(payload),
                    0x88 => $"<close {(payload[0] << 8) | payload[1]}>",
                    byte other => $"<opcode 0x{other:x2}>",
                });
                frames = frames[(header + length)..];
            }

            return [.. texts];
        }
    }
}

/// <summary>Write coalescing on the real server over real sockets, on a fake clock.</summary>
public sealed class WriteCoalescingServerTests
{
    [Fact]
    public async Task Held_messages_reach_a_real_client_together_when_the_delay_ends_and_another_namespace_is_not_delayed()
    {
        var clock = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.Namespaces["bench"].WriteDelay = TimeSpan.FromMilliseconds(2), time: clock);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "bench:x", "trades:x");

        for (int i = 1; i <= 3; i++)
        {
            await server.State.Publisher.PublishAsync("bench:x", Encoding.UTF8.GetBytes($$"""{"i":{{i}}}"""));
        }

        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));

        clock.Advance(TimeSpan.FromMilliseconds(2));
        for (int i = 1; i <= 3; i++)
        {
            JsonElement message = await client.ReceiveTypeAsync("message");
            Assert.Equal(i, message.GetProperty("data").GetProperty("i").GetInt32());
        }

        // trades has no delay: at once, with the clock standing still.
        await server.State.Publisher.PublishAsync("trades:x", """{"t":1}"""u8.ToArray());
        JsonElement trade = await client.ReceiveTypeAsync("message");
        Assert.Equal("trades:x", trade.GetProperty("channel").GetString());

        // /ws/stats tells how the held write left: by the timer, once, for the one connection.
        using var http = new HttpClient { BaseAddress = server.HttpUri };
        using JsonDocument stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/ws/stats", UriKind.Relative)));
        JsonElement coalescing = stats.RootElement.GetProperty("coalescing");
        Assert.Equal(1, coalescing.GetProperty("flushedByTimer").GetInt64());
        Assert.Equal(1, coalescing.GetProperty("timerFires").GetInt64());
        Assert.Equal(0, coalescing.GetProperty("flushedEarly").GetInt64());
        Assert.True(coalescing.GetProperty("timerLateMaxUs").GetDouble() >= 0);
    }

    [Fact]
    public async Task A_close_by_the_client_gets_the_held_messages_first()
    {
        var clock = new FakeTimeProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.Namespaces["bench"].WriteDelay = TimeSpan.FromMilliseconds(50), time: clock);
        await using RawClient raw = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint, "/ws?subscribe=bench:y");
        while (!(await raw.ReadTextAsync()).Contains("\"subscribed\"", StringComparison.Ordinal))
        {
            // past connected
        }

        await server.State.Publisher.PublishAsync("bench:y", """{"i":1}"""u8.ToArray());
        await raw.SendCloseAsync(CloseCode.NormalClosure); // long before the 50 ms (the clock stands still)

        string text = await raw.ReadTextAsync();
        Assert.Contains("\"channel\":\"bench:y\"", text, StringComparison.Ordinal);
        Assert.Contains("\"i\":1", text, StringComparison.Ordinal);
        RawFrame close = await raw.ReadFrameAsync();
        Assert.Equal(CloseCode.NormalClosure, close.CloseStatus);
    }
}
