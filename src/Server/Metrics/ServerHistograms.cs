using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace FastWs.Server.Metrics;

/// <summary>
/// The latencies the server measures itself, as <see cref="Histogram{T}"/>s of the <c>FastWs</c> meter (seconds):
/// fan-out time and publish-to-socket delay per message, handshake time per connection.
/// </summary>
/// <remarks>
/// <para>
/// Nothing is measured while no listener is attached (no <c>/metrics</c> scrape has enabled them, no OTLP exporter, no
/// dotnet-counters session): the hot path then reads one bool per message (<see cref="Timing"/>) and takes no
/// timestamp. With a listener, a published message costs one <see cref="Stopwatch.GetTimestamp"/> when it is queued,
/// fan-out one per run of frames and one per batch (never per subscriber), and each message two
/// <see cref="Histogram{T}.Record(T)"/> calls with no tags: the listener's own work, which allocates nothing in
/// <see cref="System.Diagnostics.Metrics"/> itself.
/// </para>
/// </remarks>
public sealed class ServerHistograms
{
    public const string FanOutName = "fastws.fanout.duration";
    public const string PublishDelayName = "fastws.publish.delay";
    public const string HandshakeName = "fastws.handshake.duration";

    /// <summary>
    /// Bucket boundaries in seconds, given to every exporter as the instruments' advice: 10 µs to 5 s, roughly 1-2.5-5
    /// per decade, so that both an inline fan-out to one subscriber (tens of µs) and a 10,000-subscriber fan-out or a
    /// handshake waiting for a slow client (tens of ms to seconds) land in a bucket of their own.
    /// </summary>
    public static IReadOnlyList<double> BucketBoundaries { get; } =
    [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ];

    private static readonly double TicksToSeconds = 1.0 / Stopwatch.Frequency;

    private readonly Histogram<double> _fanOut;
    private readonly Histogram<double> _publishDelay;
    private readonly Histogram<double> _handshake;

    internal ServerHistograms(Meter meter)
    {
        var advice = new InstrumentAdvice<double> { HistogramBucketBoundaries = BucketBoundaries };
        _fanOut = meter.CreateHistogram(FanOutName, "s",
            "Fan-out time per published message: from entering its fan-out queue to the write to its last subscriber (flush included).",
            tags: null, advice);
        _publishDelay = meter.CreateHistogram(PublishDelayName, "s",
            "Publish-to-socket delay per published message: from entering its fan-out queue to the start of the write to its first subscriber.",
            tags: null, advice);
        _handshake = meter.CreateHistogram(HandshakeName, "s",
            "Handshake time per accepted WebSocket connection: from the server getting the connection to the 101 and the connected message written.",
            tags: null, advice);
    }

    /// <summary>True while any listener records the fan-out histograms: only then are timestamps taken for them.</summary>
    internal bool Timing
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _fanOut.Enabled || _publishDelay.Enabled;
    }

    /// <summary>A timestamp for a message entering a fan-out queue, or 0 (not measured) while nobody listens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long QueueStamp() => Timing ? Stopwatch.GetTimestamp() : 0;

    /// <summary>A timestamp for the start of a handshake, or 0 while nobody listens.</summary>
    internal long HandshakeStamp() => _handshake.Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Records the delay of one message whose first subscriber write starts at <paramref name="now"/>.</summary>
    internal void PublishDelay(long queuedAt, long now)
    {
        if (queuedAt != 0)
        {
            _publishDelay.Record((now - queuedAt) * TicksToSeconds);
        }
    }

    /// <summary>Records the fan-out time of one message whose last subscriber write ended at <paramref name="now"/>.</summary>
    internal void FanOut(long queuedAt, long now)
    {
        if (queuedAt != 0)
        {
            _fanOut.Record((now - queuedAt) * TicksToSeconds);
        }
    }

    /// <summary>Records a handshake that started at <paramref name="startedAt"/> (from <see cref="HandshakeStamp"/>) and ends now.</summary>
    internal void HandshakeDone(long startedAt)
    {
        if (startedAt != 0)
        {
            _handshake.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds);
        }
    }
}
