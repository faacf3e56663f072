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

    private PublishFixture _fixture = null!;
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
        _fixture = new PublishFixture();
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

            _fixture.Subscribe(InMemoryTransport.CreateConnection(output, _fixture.State.Metrics, i));
        }

        _fixture.Ready(Subscribers);
        Verify();
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark]
    public int Publish()
    {
        _fixture.DeliverOnce();

        Pipe[] pipes = _pipes;
        for (int i = 0; i < pipes.Length; i++)
        {
            InMemoryTransport.Drain(pipes[i]);
        }

        return Subscribers;
    }

    /// <summary>Each publish must put the same, correct frame into every subscriber's output and flush each once.</summary>
    private void Verify()
    {
        long before = _fixture.State.Metrics.MessagesOut;
        Publish(); // FirstSequence, drained
        _fixture.DeliverOnce(); // FirstSequence + 1, left in the pipes to be checked: the first flush left nobody congested or closed
        if (_fixture.State.Metrics.MessagesOut - before != 2L * Subscribers)
        {
            throw new InvalidOperationException($"Delivered {_fixture.State.Metrics.MessagesOut - before} messages, expected {2 * Subscribers}.");
        }

        byte[] expected = PublishFixture.ExpectedFrame(PublishFixture.FirstSequence + 1);
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
                throw new InvalidOperationException($"Subscriber {i} got {Encoding.UTF8.GetString(frame)}, expected {Encoding.UTF8.GetString(expected)}.");
            }
        }

        _fixture.RestartSequence();
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
