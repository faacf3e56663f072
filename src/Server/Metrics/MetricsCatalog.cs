namespace FastWs.Server.Metrics;

/// <summary>
/// The counter list shared by every exporter (stats JSON, Prometheus text, the System.Diagnostics.Metrics meter),
/// so a counter added here shows up everywhere with one name and one description.
/// </summary>
public static class MetricsCatalog
{
    /// <summary>A monotonically increasing counter: its snake_case name, help text and how to read it.</summary>
    public readonly record struct CounterInfo(string Name, string JsonName, string Help, Func<ServerMetrics, long> Read);

    public static readonly CounterInfo[] Counters =
    [
        new("connections", "connectionsTotal", "WebSocket connections accepted since start.", m => m.ConnectionsTotal),
        new("messages_in", "messagesIn", "Data messages received from clients.", m => m.MessagesIn),
        new("compressed_messages_in", "compressedMessagesIn", "Client data messages that arrived compressed (permessage-deflate), also counted in messages_in.", m => m.CompressedMessagesIn),
        new("deflate_connections", "deflateConnections", "Connections that negotiated permessage-deflate.", m => m.DeflateConnections),
        new("bytes_in", "bytesIn", "Payload bytes of data messages received from clients.", m => m.BytesIn),
        new("messages_out", "messagesOut", "Data messages written to subscribers.", m => m.MessagesOut),
        new("bytes_out", "bytesOut", "Frame bytes of data messages written to subscribers.", m => m.BytesOut),
        new("messages_skipped", "messagesSkipped", "Data messages skipped because the subscriber was over its unsent-output limit.", m => m.MessagesSkipped),
        new("published", "published", "Messages accepted for fan-out.", m => m.Published),
        new("subscription_changes", "subscriptionChanges", "Subscriptions added or removed.", m => m.SubscriptionChanges),
        new("heartbeats_sent", "heartbeatsSent", "Ping frames sent by the heartbeat.", m => m.HeartbeatsSent),
        new("heartbeats_missed", "heartbeatsMissed", "Connections dropped for not answering a ping in time.", m => m.HeartbeatsMissed),
        new("rate_limited", "rateLimited", "Client messages refused with rate_limited.", m => m.RateLimited),
        new("limit_rejections", "limitRejections", "Connections or subscriptions refused by a configured limit.", m => m.LimitRejections),
        new("errors", "errors", "Error replies sent to clients.", m => m.ErrorsSent),
        new("slow_consumer_closes", "slowConsumerCloses", "Connections closed with 1013 for staying over the unsent-output limit.", m => m.SlowConsumerCloses),
        new("fanout_failures", "fanOutFailures", "Deliveries abandoned after an unexpected error in fan-out (should stay 0).", m => m.FanOutFailures),
        new("memory_idle_trims", "memoryIdleTrims", "Compacting collections run while idle to give memory back to the system.", m => m.IdleTrims),
        new("plain_http_requests", "plainHttpRequests", "Plain HTTP GETs of /ws/stats, /healthz or /readyz answered on the WebSocket port.", m => m.PlainHttpRequests),
        new("handshake_failures", "handshakeFailures", "Connections that did not complete the WebSocket upgrade.", m => m.HandshakeFailuresTotal),
        new("auth_successes", "authSuccesses", "Tokens accepted (on upgrade or by a first auth message).", m => m.AuthSuccesses),
        new("auth_failures", "authFailures", "Tokens refused (connections closed with 4001, HTTP API calls answered 401).", m => m.AuthFailuresTotal),
        new("token_refreshes", "tokenRefreshes", "Tokens replaced by a new one for the same user on an open connection.", m => m.TokenRefreshes),
        new("token_expiries", "tokenExpiries", "Connections closed with 4002 because their token expired.", m => m.TokenExpiries),
        new("origin_rejections", "originRejections", "Upgrades and HTTP API calls refused for their Origin (403).", m => m.OriginRejections),
        new("gap_notices", "gapNotices", "gap notices sent to subscribers whose messages were skipped.", m => m.GapNotices),
        new("conflated", "conflated", "Publishes replaced by a newer one within their channel's conflation interval.", m => m.Conflated),
        new("recoveries", "recoveries", "Channels a subscribe with since recovered from history.", m => m.Recoveries),
        new("recovery_failures", "recoveryFailures", "Channels a subscribe with since could not recover (history too short, other epoch).", m => m.RecoveryFailures),
        new("messages_replayed", "messagesReplayed", "Messages sent again from history to recovering subscribers.", m => m.MessagesReplayed),
        new("snapshots", "snapshots", "Snapshots (a channel's latest message) sent to new subscribers.", m => m.SnapshotsSent),
    ];
}
