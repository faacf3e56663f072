using System.Globalization;
using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// What the dashboard shows besides its charts, read now: counter totals, failures by reason, closes by code, each
/// limit with its current use, memory, and the channels with the most subscribers. Made once a second while someone
/// watches (and once for each viewer that joins), never on a hot path: it walks the channels and the connections.
/// </summary>
internal static class DashboardStatus
{
    /// <summary>How many channels the "most subscribers" list shows.</summary>
    public const int TopChannelCount = 10;

    public static void WriteTo(Utf8JsonWriter json, ServerState state, long startedAtMs)
    {
        ServerMetrics metrics = state.Metrics;
        json.WriteStartObject();
        json.WriteNumber("t"u8, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        json.WriteNumber("uptimeSeconds"u8, (Environment.TickCount64 - startedAtMs) / 1000);
        json.WriteString("transport"u8, state.Transport == TransportEngine.Epoll ? "epoll" : "sockets");
        json.WriteBoolean("shuttingDown"u8, state.IsShuttingDown);
        json.WriteNumber("connections"u8, metrics.ConnectionsActive);
        json.WriteNumber("channels"u8, state.Channels.Count);

        json.WriteStartObject("totals"u8);
        foreach (MetricsCatalog.CounterInfo counter in MetricsCatalog.Counters)
        {
            json.WriteNumber(counter.JsonName, counter.Read(metrics));
        }

        json.WriteEndObject();

        // Only the reasons seen so far: a list of seventeen zeros tells an operator nothing.
        json.WriteStartObject("handshakeFailures"u8);
        foreach (HandshakeFailure reason in Enum.GetValues<HandshakeFailure>())
        {
            if (metrics.HandshakeFailureCount(reason) is > 0 and long count)
            {
                json.WriteNumber(HandshakeFailures.Name(reason), count);
            }
        }

        json.WriteEndObject();
        json.WriteStartObject("authFailures"u8);
        foreach (AuthFailure reason in Enum.GetValues<AuthFailure>())
        {
            if (metrics.AuthFailureCount(reason) is > 0 and long count)
            {
                json.WriteNumber(AuthFailures.Name(reason), count);
            }
        }

        json.WriteEndObject();
        json.WriteStartObject("closesByCode"u8);
        foreach (KeyValuePair<int, long> close in metrics.ClosesByCode())
        {
            json.WriteNumber(close.Key == 0 ? "other" : close.Key.ToString(CultureInfo.InvariantCulture), close.Value);
        }

        json.WriteEndObject();

        WriteLimits(json, state);
        WriteMemory(json);
        WriteTopChannels(json, state.Channels);
        json.WriteEndObject();
    }

    /// <summary>
    /// Each limit as its setting, its value (0: off) and its current use where the server can tell it: the largest
    /// count any one IP, key group or connection has now, so the row shows how close the busiest one is.
    /// </summary>
    private static void WriteLimits(Utf8JsonWriter json, ServerState state)
    {
        FastWsOptions options = state.Options;
        LimitOptions limits = options.Limits;
        int mostSubscriptions = 0;
        int mostUnsent = 0;
        foreach (WebSocketConnection connection in state.Connections.All)
        {
            mostSubscriptions = Math.Max(mostSubscriptions, connection.SubscriptionCount);
            mostUnsent = Math.Max(mostUnsent, connection.UnsentBytes ?? 0);
        }

        int largestKeyGroup = 0;
        foreach (int count in state.KeyGroups.Snapshot().Values)
        {
            largestKeyGroup = Math.Max(largestKeyGroup, count);
        }

        json.WriteStartArray("limits"u8);
        Limit(json, "Limits:MaxConnections", "open connections", limits.MaxConnections, state.Metrics.ConnectionsActive);
        Limit(json, "Limits:MaxConnectionsPerIp", "connections of the busiest IP", limits.MaxConnectionsPerIp, state.ConnectionLimiter.LargestPerIp);
        Limit(json, "Limits:MaxSubscribersPerKeyGroup", "connections in the largest key group", limits.MaxSubscribersPerKeyGroup, largestKeyGroup);
        Limit(json, "Limits:MaxSubscriptionsPerConnection", "most channels on one connection", limits.MaxSubscriptionsPerConnection, mostSubscriptions);
        Limit(json, "SlowConsumer:MaxBufferedBytes", "largest unsent output of one connection (bytes)", options.SlowConsumer.MaxBufferedBytes, mostUnsent);
        Limit(json, "FanOutQueueCapacity", "messages queued for fan-out (all shards)", (long)options.FanOutQueueCapacity * state.Channels.ShardCount,
            state.Publisher.QueuedMessages);
        Limit(json, "Limits:MaxMessagesPerWindow", $"client messages per {options.Limits.MessageWindow.TotalSeconds:0.###} s", limits.MaxMessagesPerWindow, null);
        Limit(json, "Limits:MaxPublishesPerSecond", "publishes per second from one connection", limits.MaxPublishesPerSecond, null);
        Limit(json, "MaxMessageSize", "bytes per client message", options.MaxMessageSize, null);
        json.WriteEndArray();
    }

    private static void Limit(Utf8JsonWriter json, string setting, string measures, long limit, long? current)
    {
        json.WriteStartObject();
        json.WriteString("setting"u8, setting);
        json.WriteString("measures"u8, measures);
        json.WriteNumber("limit"u8, limit);
        if (current is { } value)
        {
            json.WriteNumber("current"u8, value);
        }
        else
        {
            json.WriteNull("current"u8);
        }

        json.WriteEndObject();
    }

    private static void WriteMemory(Utf8JsonWriter json)
    {
        GCMemoryInfo gc = GC.GetGCMemoryInfo();
        json.WriteStartObject("memory"u8);
        json.WriteNumber("workingSetBytes"u8, Environment.WorkingSet);
        json.WriteNumber("gcHeapBytes"u8, gc.HeapSizeBytes);
        json.WriteNumber("gcCommittedBytes"u8, gc.TotalCommittedBytes);
        json.WriteNumber("gcFragmentedBytes"u8, gc.FragmentedBytes);
        json.WriteNumber("gen0Collections"u8, GC.CollectionCount(0));
        json.WriteNumber("gen1Collections"u8, GC.CollectionCount(1));
        json.WriteNumber("gen2Collections"u8, GC.CollectionCount(2));
        json.WriteEndObject();
    }

    /// <summary>The <see cref="TopChannelCount"/> channels with the most subscribers, most first.</summary>
    private static void WriteTopChannels(Utf8JsonWriter json, ChannelRegistry channels)
    {
        json.WriteStartArray("topChannels"u8);
        foreach ((string name, int subscribers) in TopChannels(channels, TopChannelCount))
        {
            json.WriteStartObject();
            json.WriteString("name"u8, name);
            json.WriteNumber("subscribers"u8, subscribers);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>One walk over every channel keeping the best <paramref name="count"/> in a small sorted list.</summary>
    internal static List<(string Name, int Subscribers)> TopChannels(ChannelRegistry channels, int count)
    {
        var top = new List<(string Name, int Subscribers)>(count + 1);
        foreach (Channel channel in channels.Walk())
        {
            int subscribers = channel.SubscriberCount;
            if (subscribers == 0 || (top.Count == count && subscribers <= top[^1].Subscribers))
            {
                continue;
            }

            int at = top.FindIndex(entry => entry.Subscribers < subscribers
                || (entry.Subscribers == subscribers && string.CompareOrdinal(entry.Name, channel.Name) > 0));
            top.Insert(at < 0 ? top.Count : at, (channel.Name, subscribers));
            if (top.Count > count)
            {
                top.RemoveAt(top.Count - 1);
            }
        }

        return top;
    }
}
