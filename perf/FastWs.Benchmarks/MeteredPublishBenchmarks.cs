using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace FastWs.Benchmarks;

/// <summary>
/// <see cref="PublishBenchmarks"/>' publish (<c>Discard</c> output) with a listener attached to the FastWs meter, so that
/// the latency histograms are recorded: what measuring costs per message. <see cref="Listener"/> = <c>None</c> (as
/// <c>PublishBenchmarks</c>: one bool read, no timestamp), <c>MeterListener</c> (a bare listener whose callback does
/// nothing: the timestamps and the <c>Record</c> calls alone) and <c>OpenTelemetry</c> (the SDK's meter provider with
/// the same view as the server's, aggregating into the histograms' buckets as behind <c>/metrics</c> and OTLP).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PublishConfig))]
public class MeteredPublishBenchmarks
{
    public enum ListenerKind
    {
        None,
        MeterListener,
        OpenTelemetry,
    }

    private PublishFixture _fixture = null!;
    private DiscardPipeWriter[] _discards = [];
    private MeterListener? _listener;
    private MeterProvider? _provider;

    [Params(1, 100)]
    public int Subscribers { get; set; }

    [Params(ListenerKind.None, ListenerKind.MeterListener, ListenerKind.OpenTelemetry)]
    public ListenerKind Listener { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new PublishFixture();
        _discards = new DiscardPipeWriter[Subscribers];
        for (int i = 0; i < Subscribers; i++)
        {
            _discards[i] = new DiscardPipeWriter();
            _fixture.Subscribe(InMemoryTransport.CreateConnection(_discards[i], _fixture.State.Metrics, i));
        }

        _fixture.Ready(Subscribers);
        Meter meter = _fixture.State.Meter.Meter;
        if (Listener == ListenerKind.MeterListener)
        {
            _listener = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (ReferenceEquals(instrument.Meter, meter))
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            _listener.Start();
        }
        else if (Listener == ListenerKind.OpenTelemetry)
        {
            _provider = Sdk.CreateMeterProviderBuilder()
                .AddMeter(FastWsMeter.MeterName)
                .AddView(instrument => ReferenceEquals(instrument.Meter, meter) ? null : MetricStreamConfiguration.Drop)
                .AddReader(new BaseExportingMetricReader(new NullExporter()))
                .Build();
        }

        // The histograms must be on exactly when a listener is attached, and record per message.
        bool timing = _fixture.State.Meter.Histograms.QueueStamp() != 0;
        if (timing != (Listener != ListenerKind.None))
        {
            throw new InvalidOperationException($"Histograms {(timing ? "on" : "off")} with listener {Listener}.");
        }

        _fixture.DeliverOnce();
        if (_discards[0].BytesWritten != PublishFixture.ExpectedFrame(PublishFixture.FirstSequence).Length)
        {
            throw new InvalidOperationException($"Subscriber 0 got {_discards[0].BytesWritten} bytes.");
        }

        _fixture.RestartSequence();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        _provider?.Dispose();
        _fixture.Dispose();
    }

    [Benchmark]
    public int Publish()
    {
        _fixture.DeliverOnce();
        return Subscribers;
    }

    /// <summary>An exporter that throws the batch away: the reader exists only so that the SDK aggregates.</summary>
    private sealed class NullExporter : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }
}
