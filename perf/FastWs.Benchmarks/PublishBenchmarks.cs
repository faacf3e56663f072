using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using ChannelState = FastWs.Server.Channels.Channel;

namespace FastWs.Benchmarks;

/// <summary>
/// Publishing one message to a channel with <see cref="Subscribers"/> subscribers: what fan-out does per
/// message, run synchronously through <c>FanOutShard.DeliverNow</c>. One operation = copy the published JSON into a
/// pooled buffer (as <c>MessagePublisher</c> does), number it, encode the frame once, write it into every
/// subscriber's output, flush each subscriber once, and (for <see cref="OutputKind.Pipe"/>) drain every pipe
/// as the socket would.
/// </summary>
/// <remarks>
/// The subscribers are real <see cref="WebSocketConnection"/>s subscribed through the real
/// <see cref="SubscriptionManager"/> and <see cref="ChannelRegistry"/>; only the socket is missing.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(PublishConfig))]
public class PublishBenchmarks
{
    /// <summary>What stands in for each connection's transport output.</summary>
    public enum OutputKind
    {
        /// <summary>A Kestrel-shaped <see cref="System.IO.Pipelines.Pipe"/> over pooled 4 KiB blocks, drained after every publish (drain time included).</summary>
        Pipe,

        /// <summary>A writer that discards the bytes: FastWs's own per-subscriber cost only.</summary>
        Discard,
    }

    private const string ChannelName = "price:SOL";

    /// <summary>A typical price tick, 76 bytes.</summary>
    private static readonly byte[] s_data = Encoding.UTF8.GetBytes(
        "{\"symbol\":\"SOL\",\"price\":187.42,\"bid\":187.41,\"ask\":187.43,\"ts\":1732252800123}");

    private ServerState _state = null!;
    private FanOutShard _shard = null!;
    private ChannelState _channel = null!;
    private Pipe[] _pipes = [];
    private DiscardPipeWriter[] _discards = [];
    private BlockMemoryPool _pool = null!;

    [Params(1, 100, 10_000)]
    public int Subscribers { get; set; }

    [Params(OutputKind.Pipe, OutputKind.Discard)]
    public OutputKind Output { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new FastWsOptions { FanOutShards = 1 };
        options.Limits.MaxSubscribersPerKeyGroup = 0; // the default (100) would refuse most of 10,000 subscribers
        _state = new ServerState(options);
        var subscriptions = new SubscriptionManager(_state);
        _pool = new BlockMemoryPool();
        _pipes = Output == OutputKind.Pipe ? new Pipe[Subscribers] : [];
        _discards = Output == OutputKind.Discard ? new DiscardPipeWriter[Subscribers] : [];

        for (int i = 0; i < Subscribers; i++)
        {
            PipeWriter output;
            if (Output == OutputKind.Pipe)
            {
                _pipes[i] = InMemoryTransport.CreateOutputPipe(_pool);
                output = _pipes[i].Writer;
            }
            else
            {
                output = _discards[i] = new DiscardPipeWriter();
            }

            WebSocketConnection connection = InMemoryTransport.CreateConnection(output, _state.Metrics, i);
            SubscriptionResult result = subscriptions.Subscribe(connection, ChannelName, out _);
            if (!result.IsOk)
            {
                throw new InvalidOperationException($"Subscribe failed: {result.ErrorCode} {result.Message}");
            }
        }

        if (!_state.Channels.TryGet(ChannelName, out _channel) || _channel.SubscriberCount != Subscribers)
        {
            throw new InvalidOperationException("The channel does not have the expected subscribers.");
        }

        _shard = new FanOutShard(16, _state.Metrics);

        // Ten-digit sequence numbers from the start, so the frame length stays the same for the whole run.
        _channel.LastSequence = 999_999_999;
        Verify();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _shard.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _state.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public int Publish()
    {
        DeliverOnce();

        Pipe[] pipes = _pipes;
        for (int i = 0; i < pipes.Length; i++)
        {
            InMemoryTransport.Drain(pipes[i]);
        }

        return Subscribers;
    }

    /// <summary>
    /// Hands one message to the shard in what <c>MessagePublisher.PublishValidatedAsync</c> queues (the data copied
    /// into a buffer from PendingMessage.DataPool, which Deliver returns), and delivers it; drains nothing.
    /// </summary>
    private void DeliverOnce()
    {
        byte[] copy = PendingMessage.DataPool.Rent(s_data.Length);
        s_data.CopyTo(copy, 0);
        _shard.DeliverNow(new PendingMessage(_channel, copy, s_data.Length));
    }

    /// <summary>Each publish must put the same, correct frame into every subscriber's output and flush each once.</summary>
    private void Verify()
    {
        long before = _state.Metrics.MessagesOut;
        Publish(); // seq 1000000000, drained
        DeliverOnce(); // seq 1000000001, left in the pipes to be checked: the first flush left nobody congested or closed
        if (_state.Metrics.MessagesOut - before != 2L * Subscribers)
        {
            throw new InvalidOperationException($"Delivered {_state.Metrics.MessagesOut - before} messages, expected {2 * Subscribers}.");
        }

        string payload = "{\"type\":\"message\",\"channel\":\"" + ChannelName + "\",\"seq\":1000000001,\"data\":"
            + Encoding.UTF8.GetString(s_data) + "}";
        byte[] expected = TestData.TextFrame(payload);
        byte[] frame = new byte[expected.Length];
        for (int i = 0; i < Subscribers; i++)
        {
            if (Output == OutputKind.Discard)
            {
                if (_discards[i].BytesWritten != 2L * expected.Length || _discards[i].Flushes != 2)
                {
                    throw new InvalidOperationException($"Subscriber {i}: {_discards[i].BytesWritten} bytes in {_discards[i].Flushes} flushes, expected {2 * expected.Length} in 2.");
                }

                continue;
            }

            PipeReader reader = _pipes[i].Reader;
            if (!reader.TryRead(out ReadResult result) || result.Buffer.Length != expected.Length)
            {
                throw new InvalidOperationException($"Subscriber {i} has {result.Buffer.Length} bytes, expected {expected.Length}.");
            }

            result.Buffer.CopyTo(frame);
            reader.AdvanceTo(result.Buffer.End);
            if (!frame.AsSpan().SequenceEqual(expected))
            {
                throw new InvalidOperationException($"Subscriber {i} got {Encoding.UTF8.GetString(frame)}, expected {payload}.");
            }
        }

        _channel.LastSequence = 999_999_999;
    }
}

/// <summary>The shared report settings plus "ns/sub": the median divided by the number of subscribers.</summary>
public sealed class PublishConfig : ManualConfig
{
    public PublishConfig()
    {
        AddColumn(StatisticColumn.Median, new PerSubscriberColumn());
    }
}

public sealed class PerSubscriberColumn : IColumn
{
    public string Id => "PerSubscriber";

    public string ColumnName => "ns/sub";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Median time in ns divided by the number of subscribers";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(benchmarkCase);
        object? subscribers = benchmarkCase.Parameters[nameof(PublishBenchmarks.Subscribers)];
        double? medianNs = summary[benchmarkCase]?.ResultStatistics?.Median;
        if (subscribers is null || medianNs is not > 0)
        {
            return "-";
        }

        return (medianNs.Value / Convert.ToDouble(subscribers, CultureInfo.InvariantCulture)).ToString("F1", CultureInfo.InvariantCulture);
    }
}
