namespace FastWs.Server.Broker;

/// <summary>Which engine connects the nodes ("FastWs:Broker:Kind").</summary>
public enum BrokerKind
{
    /// <summary>One process: channels are numbered and kept in memory by the node itself (the default).</summary>
    None,

    /// <summary>Several nodes on one Redis: numbering, history and publishing go through Redis (see <see cref="RedisEngine"/>).</summary>
    Redis,
}

/// <summary>"FastWs:Broker": several FastWs nodes serving one set of channels.</summary>
public sealed class BrokerOptions
{
    public BrokerKind Kind { get; set; } = BrokerKind.None;

    public RedisBrokerOptions Redis { get; set; } = new();

    /// <summary>
    /// How long a node keeps following a channel (its Redis subscription and its copy of the channel's position and
    /// history) after its last local subscriber left: a client that reconnects within it finds the channel ready.
    /// </summary>
    public TimeSpan InterestLinger { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Publishes this node may have sent to the broker and not yet had answered. Beyond it a publish is refused with
    /// <c>unavailable</c> (HTTP 503) and counted, rather than queued without bound while the broker is slow.
    /// </summary>
    public int MaxPublishesInFlight { get; set; } = 10_000;

    /// <summary>
    /// Publishes one WebSocket connection may have in flight before its reads wait for the oldest (backpressure on
    /// that publisher only).
    /// </summary>
    public int MaxPublishesInFlightPerConnection { get; set; } = 1_000;

    /// <summary>
    /// Messages of one channel received from the broker and waiting for this node's fan-out. Beyond it arrivals are
    /// shed (counted); the next message shows the hole, which is refilled from the broker's history or announced with a
    /// <c>gap</c> notice. A node too slow for its traffic therefore costs bounded memory, never an unbounded queue.
    /// </summary>
    public int MaxQueuedPerChannel { get; set; } = 10_000;

    /// <summary>How long a subscribe waits for a channel new to this node to be followed before it gets <c>unavailable</c>.</summary>
    public TimeSpan FollowTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>"FastWs:Broker:Redis".</summary>
public sealed class RedisBrokerOptions
{
    /// <summary>A StackExchange.Redis connection string (<c>host:port,password=...,ssl=true</c>).</summary>
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>Prefix of every key and pub/sub channel FastWs uses, so several clusters can share one Redis.</summary>
    public string Prefix { get; set; } = "fastws";

    /// <summary>
    /// The shortest time a channel's state (epoch, <c>seq</c>, history) lives in Redis after its last publish; the
    /// namespace's <c>Retention</c> and <c>History:MaxAge</c> make it longer. Nodes following the channel renew it.
    /// </summary>
    public TimeSpan MinStateTtl { get; set; } = TimeSpan.FromMinutes(1);
}
