using FastWs.Server.Connections;
using FastWs.Server.Hosting;

namespace FastWs.Server.Http;

/// <summary>
/// One connection as <c>GET /api/connections</c> and the dashboard's connections view show it: what the intents
/// backend tracked per connection. Read without locks while the connection runs, so each number is at most a moment
/// old (see <see cref="ConnectionTraffic"/>). The property names, camelCased, are the JSON contract (docs/operations.md).
/// </summary>
/// <param name="Id">The <c>connectionId</c> the client got in its <c>connected</c> message.</param>
/// <param name="User">The token's user; null for an anonymous connection.</param>
/// <param name="Ip">The client's address (behind a trusted proxy, the forwarded one).</param>
/// <param name="Subscriptions">The subscribed channels, sorted.</param>
/// <param name="MessagesSkipped">Data messages not sent because the client was over its unsent-output limit.</param>
/// <param name="UnsentBytes">Output the kernel has not taken yet; null where the transport does not tell (TLS, <c>DirectSends=false</c>).</param>
/// <param name="LastPongRttMs">The round trip of the last heartbeat ping, in milliseconds; null until the first answer.</param>
/// <param name="Health"><c>ok</c>, or why not: <c>closing</c>, <c>congested</c>, <c>pingUnanswered</c> (see <see cref="HealthOf"/>).</param>
internal sealed record ConnectionView(
    string Id,
    DateTimeOffset ConnectedAt,
    string? User,
    string Ip,
    int SubscriptionCount,
    IReadOnlyList<string> Subscriptions,
    long MessagesIn,
    long BytesIn,
    long MessagesOut,
    long BytesOut,
    long Errors,
    long MessagesSkipped,
    int? UnsentBytes,
    double? LastPongRttMs,
    bool Healthy,
    string Health)
{
    public static ConnectionView Of(WebSocketConnection connection, string id, FastWsOptions options)
    {
        var names = new List<string>(connection.SubscriptionCount);
        connection.SubscriptionsIfAny?.CopyNamesTo(names);
        names.Sort(StringComparer.Ordinal);
        string health = HealthOf(connection, options);
        ConnectionTraffic traffic = connection.Traffic;
        return new ConnectionView(
            id,
            DateTimeOffset.FromUnixTimeMilliseconds(connection.ConnectedAtUnixMs),
            connection.User?.Id,
            connection.ClientIp.ToString(),
            names.Count,
            names,
            traffic.MessagesIn,
            traffic.BytesIn,
            traffic.MessagesOut,
            traffic.BytesOut,
            traffic.Errors,
            connection.MessagesSkipped,
            connection.UnsentBytes,
            connection.LastPongRoundTrip is { } rtt ? Math.Round(rtt.TotalMilliseconds, 3) : null,
            health == Ok,
            health);
    }

    private const string Ok = "ok";

    /// <summary>
    /// <c>closing</c> once the server sent its close frame; <c>congested</c> while over the unsent-output limit (data is
    /// being skipped); <c>pingUnanswered</c> when the last heartbeat ping has waited over half of
    /// <c>Heartbeat:PongTimeout</c> (the connection is on its way to being dropped); else <c>ok</c>.
    /// </summary>
    internal static string HealthOf(WebSocketConnection connection, FastWsOptions options) =>
        connection.CloseSent ? "closing"
        : connection.IsCongested ? "congested"
        : options.Heartbeat.PongTimeout > TimeSpan.Zero && connection.PingUnansweredFor > options.Heartbeat.PongTimeout / 2 ? "pingUnanswered"
        : Ok;
}
