using FastWs.Server.Auth;
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastWs.Server.Channels;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary><c>GET /ws/stats</c> (JSON for dashboards) and <c>GET /metrics</c> (Prometheus text exposition format).</summary>
internal static class StatsEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/ws/stats", (ServerState state) => Results.Bytes(WriteStats(state), StatsContentType));
        endpoints.MapGet("/metrics", (ServerState state) => Results.Text(WritePrometheus(state), "text/plain; version=0.0.4; charset=utf-8"));
    }

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
            HistoryStats kept = state.Channels.History();
            json.WriteStartObject("history");
            json.WriteNumber("channels", kept.Channels);
            json.WriteNumber("messages", kept.Messages);
            json.WriteNumber("dataBytes", kept.DataBytes);
            json.WriteNumber("bufferBytes", kept.BufferBytes);
            json.WriteEndObject();
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

    private static void WriteSeries(Utf8JsonWriter json, string name, RateSample[] history, Func<RateSample, long> value)
    {
        json.WriteStartArray(name);
        foreach (RateSample sample in history)
        {
            json.WriteNumberValue(value(sample));
        }

        json.WriteEndArray();
    }

    internal static string WritePrometheus(ServerState state)
    {
        ServerMetrics metrics = state.Metrics;
        var text = new StringBuilder(4096);
        foreach (MetricsCatalog.CounterInfo counter in MetricsCatalog.Counters)
        {
            Metric(text, "fastws_" + counter.Name + "_total", "counter", counter.Help, counter.Read(metrics));
        }

        Metric(text, "fastws_connections_active", "gauge", "Open WebSocket connections.", metrics.ConnectionsActive);
        Metric(text, "fastws_channels", "gauge", "Channels with subscribers, or without but keeping their state for their retention.", state.Channels.Count);
        RateSample latest = metrics.Rates.Latest;
        Metric(text, "fastws_messages_out_per_second", "gauge", "Data messages written per second (last full second).", latest.MessagesOut);
        Metric(text, "fastws_bytes_out_per_second", "gauge", "Bytes written per second (last full second).", latest.BytesOut);

        Header(text, "fastws_handshake_failures_by_reason_total", "counter", "Failed upgrades by reason.");
        foreach (HandshakeFailure reason in Enum.GetValues<HandshakeFailure>())
        {
            Sample(text, "fastws_handshake_failures_by_reason_total", "reason", HandshakeFailures.Name(reason), metrics.HandshakeFailureCount(reason));
        }

        Header(text, "fastws_auth_failures_by_reason_total", "counter", "Refused tokens by reason.");
        foreach (AuthFailure reason in Enum.GetValues<AuthFailure>())
        {
            Sample(text, "fastws_auth_failures_by_reason_total", "reason", AuthFailures.Name(reason), metrics.AuthFailureCount(reason));
        }

        Header(text, "fastws_closes_total", "counter", "Connections ended, by close code (1006: no close frame).");
        foreach (KeyValuePair<int, long> close in metrics.ClosesByCode())
        {
            Sample(text, "fastws_closes_total", "code", close.Key == 0 ? "other" : close.Key.ToString(CultureInfo.InvariantCulture), close.Value);
        }

        Header(text, "fastws_connections_per_key_group", "gauge", "Connections subscribed to a channel key group (slab).");
        foreach (KeyValuePair<string, int> group in state.KeyGroups.Snapshot())
        {
            Sample(text, "fastws_connections_per_key_group", "group", group.Key, group.Value);
        }

        return text.ToString();
    }

    private static void Metric(StringBuilder text, string name, string type, string help, long value)
    {
        Header(text, name, type, help);
        text.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    /// <summary>Label values here are reason names, close codes and key groups: none needs escaping beyond quotes and backslashes.</summary>
    private static void Sample(StringBuilder text, string name, string label, string labelValue, long value) =>
        text.Append(name).Append('{').Append(label).Append("=\"")
            .Append(labelValue.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal))
            .Append("\"} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
