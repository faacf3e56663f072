using BenchmarkDotNet.Attributes;
using FastWs.Server.Hosting;

namespace FastWs.Benchmarks;

/// <summary>
/// What the market-data message shapes cost the fan-out: one publish of the 76-byte tick to 100 subscribers
/// (discarding outputs: FastWs's own work), in the envelope format and inline (the published object with channel
/// and seq appended), with and without a history ring of 1,000 messages (one append per message, taking over the
/// pooled buffer). Inline must stay within 5 % of the envelope, and the history append must not allocate.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PublishConfig))]
public class MessageFormatBenchmarks
{
    private PublishFixture _fixture = null!;
    private DiscardPipeWriter[] _discards = [];

    [Params(MessageFormat.Envelope, MessageFormat.Inline)]
    public MessageFormat Format { get; set; }

    [Params(false, true)]
    public bool History { get; set; }

    [Params(100)]
    public int Subscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new PublishFixture(Format, History);
        _discards = new DiscardPipeWriter[Subscribers];
        for (int i = 0; i < Subscribers; i++)
        {
            _discards[i] = new DiscardPipeWriter();
            _fixture.Subscribe(InMemoryTransport.CreateConnection(_discards[i], _fixture.State.Metrics, i));
        }

        _fixture.Ready(Subscribers);

        // Every subscriber must get exactly the frame of this format, once per publish.
        Publish();
        int expected = PublishFixture.ExpectedFrame(PublishFixture.FirstSequence, Format).Length;
        foreach (DiscardPipeWriter discard in _discards)
        {
            if (discard.BytesWritten != expected || discard.Flushes != 1)
            {
                throw new InvalidOperationException($"A subscriber got {discard.BytesWritten} bytes in {discard.Flushes} flushes, expected {expected} in 1.");
            }
        }

        _fixture.RestartSequence();
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark]
    public int Publish()
    {
        _fixture.DeliverOnce();
        return Subscribers;
    }
}
