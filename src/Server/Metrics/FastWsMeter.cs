using FastWs.Server.Auth;
using System.Diagnostics.Metrics;
using FastWs.Server.Hosting;

namespace FastWs.Server.Metrics;

/// <summary>
/// Publishes the server's counters through a <see cref="Meter"/> named "FastWs", so
/// <c>dotnet-counters monitor --counters FastWs</c> and OpenTelemetry collectors read them with no extra code.
/// The counters are observable instruments: they read the lock-free counters when a listener asks, costing nothing
/// otherwise. The latency histograms (<see cref="ServerHistograms"/>) are recorded by the server itself.
/// </summary>
/// <remarks>
/// The meter comes from an <see cref="IMeterFactory"/>: the host's (the DI container's, so that the container owns it
/// and a listener can tell this server's meter from another's by <see cref="Meter.Scope"/>), or, for a
/// <see cref="ServerState"/> made without a host (tests, benchmarks), one of its own.
/// </remarks>
public sealed class FastWsMeter : IDisposable
{
    public const string MeterName = "FastWs";

    private readonly Meter _meter;

    public FastWsMeter(ServerState state, IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(meterFactory);
        ServerMetrics metrics = state.Metrics;
        _meter = meterFactory.Create(new MeterOptions(MeterName) { Version = typeof(FastWsMeter).Assembly.GetName().Version?.ToString() });
        Histograms = new ServerHistograms(_meter);

        foreach (MetricsCatalog.CounterInfo counter in MetricsCatalog.Counters)
        {
            Func<ServerMetrics, long> read = counter.Read;
            _meter.CreateObservableCounter("fastws." + counter.Name.Replace('_', '.'), () => read(metrics), description: counter.Help);
        }

        _meter.CreateObservableUpDownCounter("fastws.connections.active", () => metrics.ConnectionsActive, description: "Open WebSocket connections.");
        _meter.CreateObservableUpDownCounter("fastws.channels", () => (long)state.Channels.Count, description: "Channels with subscribers, or without but keeping their state for their retention.");
        _meter.CreateObservableGauge("fastws.messages.out.per_second", () => metrics.Rates.Latest.MessagesOut, unit: "{message}/s", description: "Data messages written per second (last full second).");
        _meter.CreateObservableGauge("fastws.bytes.out.per_second", () => metrics.Rates.Latest.BytesOut, unit: "{byte}/s", description: "Bytes written per second (last full second).");
        _meter.CreateObservableCounter("fastws.handshake.failures.by_reason", () => HandshakeFailureMeasurements(metrics), description: "Failed upgrades by reason.");
        _meter.CreateObservableCounter("fastws.auth.failures.by_reason", () => AuthFailureMeasurements(metrics), description: "Refused tokens by reason.");
        _meter.CreateObservableCounter("fastws.closes", () => CloseMeasurements(metrics), description: "Connections ended, by close code (1006: no close frame).");
        _meter.CreateObservableUpDownCounter("fastws.connections.per_key_group", () => KeyGroupMeasurements(state), description: "Connections subscribed to a channel key group.");

        // Several nodes (FastWs:Broker): nothing is reported without a broker.
        _meter.CreateObservableGauge("fastws.broker.round_trip", () => BrokerMeasurement(state, m => m.RoundTripMs / 1000.0), unit: "s", description: "Round trip to the broker (moving average of publishes and pings).");
        _meter.CreateObservableUpDownCounter("fastws.broker.publishes.in_flight", () => BrokerMeasurement(state, m => m.InFlight), description: "Publishes sent to the broker and not yet answered.");
        _meter.CreateObservableCounter("fastws.broker.publishes", () => BrokerMeasurement(state, m => m.Published), description: "Publishes the broker confirmed.");
        _meter.CreateObservableCounter("fastws.broker.publishes.refused", () => BrokerMeasurement(state, m => m.Refused), description: "Publishes refused: broker unreachable or the in-flight bound reached.");
        _meter.CreateObservableCounter("fastws.broker.publishes.failed", () => BrokerMeasurement(state, m => m.Failed), description: "Publishes sent that the broker did not confirm.");
        _meter.CreateObservableCounter("fastws.broker.received", () => BrokerMeasurement(state, m => m.Received), description: "Messages received from the broker.");
        _meter.CreateObservableUpDownCounter("fastws.broker.interest", () => BrokerMeasurement(state, m => m.Followed), description: "Channels this node follows in the broker.");
        _meter.CreateObservableCounter("fastws.broker.reconnects", () => BrokerMeasurement(state, m => m.Reconnects), description: "Reconnects to the broker after a loss.");
        _meter.CreateObservableCounter("fastws.broker.refilled", () => BrokerMeasurement(state, m => m.Refilled), description: "Messages missed on pub/sub and fetched from the broker's history.");
        _meter.CreateObservableCounter("fastws.broker.holes", () => BrokerMeasurement(state, m => m.HolesAnnounced), description: "Holes the broker could not refill, announced with gap notices.");
        _meter.CreateObservableCounter("fastws.broker.restarts", () => BrokerMeasurement(state, m => m.Restarts), description: "Channel streams restarted in a new epoch (the broker lost their state).");
    }

    private static IEnumerable<Measurement<T>> BrokerMeasurement<T>(ServerState state, Func<Broker.BrokerMetrics, T> read)
        where T : struct =>
        state.Publisher?.Broker is { } broker ? [new Measurement<T>(read(broker.Metrics))] : [];

    /// <summary>
    /// This server's meter. Every server in a process has its own, all named "FastWs": a listener that wants one
    /// server's instruments (tests running several) matches <see cref="Instrument.Meter"/> against this.
    /// </summary>
    public Meter Meter => _meter;

    /// <summary>The latency histograms the server records into.</summary>
    public ServerHistograms Histograms { get; }

    public void Dispose() => _meter.Dispose();

    private static IEnumerable<Measurement<long>> HandshakeFailureMeasurements(ServerMetrics metrics)
    {
        foreach (HandshakeFailure reason in Enum.GetValues<HandshakeFailure>())
        {
            // Every reason, 0 included: the set is fixed and small, and a series that exists from the start lets
            // rate() see its first failure.
            yield return new Measurement<long>(metrics.HandshakeFailureCount(reason), new KeyValuePair<string, object?>("reason", HandshakeFailures.Name(reason)));
        }
    }

    private static IEnumerable<Measurement<long>> AuthFailureMeasurements(ServerMetrics metrics)
    {
        foreach (AuthFailure reason in Enum.GetValues<AuthFailure>())
        {
            yield return new Measurement<long>(metrics.AuthFailureCount(reason), new KeyValuePair<string, object?>("reason", AuthFailures.Name(reason)));
        }
    }

    private static IEnumerable<Measurement<long>> CloseMeasurements(ServerMetrics metrics)
    {
        foreach (KeyValuePair<int, long> close in metrics.ClosesByCode())
        {
            yield return new Measurement<long>(close.Value, new KeyValuePair<string, object?>("code", close.Key == 0 ? "other" : close.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    private static IEnumerable<Measurement<long>> KeyGroupMeasurements(ServerState state)
    {
        foreach (KeyValuePair<string, int> group in state.KeyGroups.Snapshot())
        {
            yield return new Measurement<long>(group.Value, new KeyValuePair<string, object?>("group", group.Key));
        }
    }
}
