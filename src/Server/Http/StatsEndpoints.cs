using FastWs.Server.Auth;
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary><c>GET /ws/stats</c>: JSON for dashboards. (<c>GET /metrics</c> is OpenTelemetry's Prometheus exporter over the FastWs meter.)</summary>
internal static class StatsEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/ws/stats", (ServerState state) => Results.Bytes(WriteStats(state), StatsContentType));
    }

    /// <summary>Where the Prometheus exporter answers (mapped by <see cref="Hosting.FastWsServer"/>).</summary>
    internal const string MetricsPath = "/metrics";

    /// <summary>The content type of <c>/ws/stats</c> (also on the WebSocket port, see <see cref="WebSocketPortRequests"/>).</summary>
    internal const string StatsContentType = "application/json";

    internal static byte[] WriteStats(ServerState state)
    {
        ServerMetrics metrics = state.Metrics;
        LimitOptions limits = state.Options.Limits;
        RateSample latest = metrics.Rates.Latest;
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("totalConnections", metrics.ConnectionsActive);
            json.WriteString("transport", state.Transport == TransportEngine.Epoll ? "epoll" : "sockets");
            json.WriteStartObject("connectionsPerSlab");
            foreach (KeyValuePair<string, int> group in state.KeyGroups.Snapshot())
            {
                json.WriteNumber(group.Key, group.Value);
            }

            json.WriteEndObject();
            json.WriteNumber("messagesPerSec", latest.MessagesOut);
            json.WriteNumber("bytesPerSec", latest.BytesOut);
            json.WriteNumber("messagesInPerSec", latest.MessagesIn);
            json.WriteNumber("bytesInPerSec", latest.BytesIn);
            json.WriteNumber("publishedPerSec", latest.Published);
            json.WriteNumber("channels", state.Channels.Count);
            json.WriteNumber("idleChannels", state.Channels.IdleCount);
            json.WriteNumber("conflatedWaiting", state.Publisher.ConflatedWaiting);
            WriteCoalescing(json, state.Publisher.Coalescer);
            HistoryStats kept = state.Channels.History();
            json.WriteStartObject("history");
            json.WriteNumber("channels", kept.Channels);
            json.WriteNumber("messages", kept.Messages);
            json.WriteNumber("dataBytes", kept.DataBytes);
            json.WriteNumber("bufferBytes", kept.BufferBytes);
            json.WriteEndObject();
            WriteBroker(json, state);
            json.WriteNumber("pendingHandshakes", state.PendingHandshakes.Count);
            json.WriteNumber("queuedMessages", state.Publisher.QueuedMessages);
            json.WriteBoolean("shuttingDown", state.IsShuttingDown);

            // Memory, to tell managed heap growth from native and pooled memory when sizing per-connection cost.
            GCMemoryInfo gc = GC.GetGCMemoryInfo();
            json.WriteStartObject("memory");
            json.WriteNumber("workingSetBytes", Environment.WorkingSet);
            json.WriteNumber("gcHeapBytes", gc.HeapSizeBytes);
            json.WriteNumber("gcCommittedBytes", gc.TotalCommittedBytes);
            json.WriteNumber("gcFragmentedBytes", gc.FragmentedBytes);
            json.WriteNumber("gcCount", GC.CollectionCount(0));
            json.WriteNumber("idleTrims", metrics.IdleTrims);
            json.WriteNumber("lastIdleTrimPauseMs", Math.Round(metrics.LastIdleTrimPause.TotalMilliseconds, 3));
            json.WriteNumber("lastIdleTrimReleasedBytes", metrics.LastIdleTrimReleasedBytes);
            json.WriteEndObject();

            json.WriteStartObject("limits");
            json.WriteNumber("maxGlobalConnections", limits.MaxConnections);
            json.WriteNumber("maxConnectionsPerSlab", limits.MaxSubscribersPerKeyGroup);
            json.WriteNumber("maxConnectionsPerIp", limits.MaxConnectionsPerIp);
            json.WriteNumber("maxSubscriptionsPerConnection", limits.MaxSubscriptionsPerConnection);
            json.WriteNumber("maxMessagesPerWindow", limits.MaxMessagesPerWindow);
            json.WriteNumber("messageWindowSeconds", limits.MessageWindow.TotalSeconds);
            json.WriteNumber("maxPublishesPerSecond", limits.MaxPublishesPerSecond);
            json.WriteNumber("maxMessageSize", state.Options.MaxMessageSize);
            json.WriteNumber("slowConsumerBytes", state.Options.SlowConsumer.MaxBufferedBytes);
            json.WriteEndObject();

            json.WriteStartObject("counters");
            foreach (MetricsCatalog.CounterInfo counter in MetricsCatalog.Counters)
            {
                json.WriteNumber(counter.JsonName, counter.Read(metrics));
            }

            json.WriteEndObject();

            json.WriteStartObject("handshakeFailures");
            foreach (HandshakeFailure reason in Enum.GetValues<HandshakeFailure>())
            {
                json.WriteNumber(HandshakeFailures.Name(reason), metrics.HandshakeFailureCount(reason));
            }

            json.WriteEndObject();

            json.WriteStartObject("authFailures");
            foreach (AuthFailure reason in Enum.GetValues<AuthFailure>())
            {
                json.WriteNumber(AuthFailures.Name(reason), metrics.AuthFailureCount(reason));
            }

            json.WriteEndObject();

            json.WriteStartObject("closesByCode");
            foreach (KeyValuePair<int, long> close in metrics.ClosesByCode())
            {
                json.WriteNumber(close.Key == 0 ? "other" : close.Key.ToString(CultureInfo.InvariantCulture), close.Value);
            }

            json.WriteEndObject();

            json.WriteStartObject("lastMinute");
            RateSample[] history = metrics.Rates.History();
            WriteSeries(json, "messagesOutPerSec", history, s => s.MessagesOut);
            WriteSeries(json, "bytesOutPerSec", history, s => s.BytesOut);
            WriteSeries(json, "messagesInPerSec", history, s => s.MessagesIn);
            WriteSeries(json, "publishedPerSec", history, s => s.Published);
            json.WriteEndObject();

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary><c>"broker"</c>: the kind, and with several nodes the broker path's state (see <see cref="Broker.BrokerMetrics"/>).</summary>
    /// <summary>Write coalescing (namespaces with a <c>WriteDelay</c>): what is held now and how held writes left.</summary>
    private static void WriteCoalescing(Utf8JsonWriter json, WriteCoalescer coalescer)
    {
        (long fires, double lateUs, double maxLateUs) = coalescer.TimerLateness;
        json.WriteStartObject("coalescing");
        json.WriteNumber("waiting", coalescer.Waiting);
        json.WriteNumber("flushedEarly", coalescer.FlushedEarly);
        json.WriteNumber("flushedByFanOut", coalescer.FlushedByFanOut);
        json.WriteNumber("flushedByTimer", coalescer.FlushedByTimer);
        json.WriteNumber("timerFires", fires);
        json.WriteNumber("timerDeferred", coalescer.TimerDeferred);
        json.WriteNumber("timerLateMeanUs", Math.Round(lateUs, 1));
        json.WriteNumber("timerLateMaxUs", Math.Round(maxLateUs, 1));
        json.WriteEndObject();
    }

    private static void WriteBroker(Utf8JsonWriter json, ServerState state)
    {
        json.WriteStartObject("broker");
        json.WriteString("kind", state.Options.Broker.Kind.ToString());
        if (state.Publisher.Broker is { } broker)
        {
            Broker.BrokerMetrics m = broker.Metrics;
            json.WriteBoolean("connected", broker.IsConnected);
            json.WriteNumber("roundTripMs", Math.Round(m.RoundTripMs, 3));
            json.WriteNumber("lastRoundTripMs", Math.Round(m.LastRoundTripMs, 3));
            json.WriteNumber("publishesInFlight", m.InFlight);
            json.WriteNumber("published", m.Published);
            json.WriteNumber("publishesRefused", m.Refused);
            json.WriteNumber("publishesFailed", m.Failed);
            json.WriteNumber("received", m.Received);
            json.WriteNumber("followedChannels", m.Followed);
            json.WriteNumber("followFailures", m.FollowFailures);
            json.WriteNumber("refilled", m.Refilled);
            json.WriteNumber("holesAnnounced", m.HolesAnnounced);
            json.WriteNumber("duplicatesDropped", m.Duplicates);
            json.WriteNumber("shed", broker.MessagesShed);
            json.WriteNumber("restarts", m.Restarts);
            json.WriteNumber("disconnects", m.Disconnects);
            json.WriteNumber("reconnects", m.Reconnects);
        }

        json.WriteEndObject();
    }

    private static void WriteSeries(Utf8JsonWriter json, string name, RateSample[] history, Func<RateSample, long> value)
    {
        json.WriteStartArray(name);
        foreach (RateSample sample in history)
        {
            json.WriteNumberValue(value(sample));
        }

        json.WriteEndArray();
    }
}
