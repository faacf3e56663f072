using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Publishing;

namespace FastWs.Benchmarks;

/// <summary>
/// Typed events through <c>server.Events</c> (<see cref="TypedPublisher"/>): check the input, write the JSON with the
/// thread's <c>Utf8JsonWriter</c>, build the channel name on the stack, and publish through the real
/// <see cref="MessagePublisher"/>. With <see cref="Subscribers"/> = 1 that includes delivery to one subscriber (a
/// Kestrel-shaped pipe, drained after each publish); with 0 the publisher drops the message after the channel lookup.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class TypedPublishBenchmarks
{
    private const long Timestamp = 1732252800123;

    private ServerState _state = null!;
    private TypedPublisher _events = null!;
    private BlockMemoryPool _pool = null!;
    private Pipe _pipe = null!;
    private bool _drain;

    [Params(0, 1)]
    public int Subscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new FastWsOptions { FanOutShards = 1 };
        options.Limits.MaxSubscribersPerKeyGroup = 0;
        // The events' namespaces deliver inline, as by default; conflation, snapshots, history and retention are off so
        // that every publish is delivered (or, with 0 subscribers, dropped) and checked the same way each time.
        PublishFixture.Plain(options);
        foreach (string name in new[] { "price", "trades", "system_alerts" })
        {
            options.Namespaces[name].Format = MessageFormat.Inline;
        }

        _state = new ServerState(options);
        _events = _state.Events;
        _pool = new BlockMemoryPool();
        _pipe = InMemoryTransport.CreateOutputPipe(_pool);
        var subscriptions = new SubscriptionManager(_state);
        WebSocketConnection connection = InMemoryTransport.CreateConnection(_pipe.Writer, _state.Metrics, 0);
        foreach (string channel in new[] { "price:SOL", "trades:SOL", "system_alerts" })
        {
            SubscriptionResult result = subscriptions.Subscribe(connection, channel, out _);
            if (!result.IsOk)
            {
                throw new InvalidOperationException($"Subscribe to {channel} failed: {result.ErrorCode} {result.Message}");
            }
        }

        // Every event must reach a subscriber as exactly the expected JSON.
        Expect(Price(), "price:SOL", """{"type":"price","slab":"SOL","price":187.42,"markPrice":187.43,"indexPrice":187.41,"timestamp":1732252800123}""");
        Expect(Trade(), "trades:SOL", """{"type":"trade","slab":"SOL","side":"sell","size":2.5,"price":187.42,"timestamp":1732252800123}""");
        Expect(Alert(), "system_alerts",
            """{"type":"system_alert","kind":"maintenance","message":"Matching paused for 5 minutes","severity":"warning","timestamp":1732252800123}""");

        _drain = true;
        if (Subscribers == 0)
        {
            subscriptions.UnsubscribeAll(connection);
            if (Price() != PublishOutcome.NoSubscribers || Trade() != PublishOutcome.NoSubscribers || Alert() != PublishOutcome.NoSubscribers)
            {
                throw new InvalidOperationException("Expected no subscribers after unsubscribing.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _state.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary><c>{"type":"price",...}</c> on price:SOL.</summary>
    [Benchmark]
    public PublishOutcome Price() => Done(_events.PublishPriceAsync("SOL", 187.42, 187.43, 187.41, Timestamp));

    /// <summary><c>{"type":"trade",...}</c> on trades:SOL.</summary>
    [Benchmark]
    public PublishOutcome Trade() => Done(_events.PublishTradeAsync("SOL", TradeSide.Sell, 2.5, 187.42, Timestamp));

    /// <summary><c>{"type":"system_alert",...}</c> on system_alerts.</summary>
    [Benchmark]
    public PublishOutcome Alert() => Done(_events.BroadcastSystemAlertAsync("maintenance", "Matching paused for 5 minutes", AlertSeverity.Warning, Timestamp));

    /// <summary>The publish completed synchronously (delivered inline); drains what the subscriber got, as its socket would.</summary>
    private PublishOutcome Done(ValueTask<PublishResult> publish)
    {
        if (!publish.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("A typed publish did not complete synchronously.");
        }

        if (_drain)
        {
            InMemoryTransport.Drain(_pipe);
        }

        return publish.Result.Outcome;
    }

    /// <summary>Checks that the publish was delivered, as the first message on its channel, in a frame carrying exactly <paramref name="data"/>.</summary>
    private void Expect(PublishOutcome outcome, string channel, string data)
    {
        byte[] expected = TestData.TextFrame(data[..^1] + ",\"channel\":\"" + channel + "\",\"seq\":1}");
        PipeReader reader = _pipe.Reader;
        if (outcome != PublishOutcome.Queued || !reader.TryRead(out ReadResult result))
        {
            throw new InvalidOperationException($"Nothing delivered on {channel} ({outcome}).");
        }

        byte[] frame = new byte[result.Buffer.Length];
        result.Buffer.CopyTo(frame);
        reader.AdvanceTo(result.Buffer.End);
        if (!frame.AsSpan().SequenceEqual(expected))
        {
            throw new InvalidOperationException($"{channel} got {Encoding.UTF8.GetString(frame)}, expected {Encoding.UTF8.GetString(expected)}.");
        }
    }
}
