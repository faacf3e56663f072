using FastWs.Server.FanOut;
using FastWs.Server.Hosting;

namespace FastWs.Server.Broker;

/// <summary>
/// What a bus between nodes must do, and all that is engine-specific: the rest (which channels a node follows,
/// catching up, holes, restarts, delivery) is <see cref="ChannelFollower"/>, the same for every engine.
/// </summary>
/// <remarks>
/// <para>
/// The one rule: <see cref="PublishAsync"/> gives the message the channel's next <c>seq</c> (in the channel's
/// epoch, created when the channel has none), keeps it in the channel's history within the namespace's limits and
/// hands it to every node that subscribed, all in one atomic step, so every node sees the same numbers in the same
/// order and <see cref="ReadAsync"/> agrees with what was delivered.
/// </para>
/// <para>
/// Redis does it with one Lua script (<see cref="RedisEngine"/>). A NATS engine would be one more class: a JetStream
/// stream per namespace with a subject per channel (<c>MaxMsgsPerSubject</c> = history size), the stream's
/// per-subject sequence (or an expected-last-sequence publish) as <c>seq</c>, the stream's creation time as the epoch,
/// a core NATS subscription per followed channel for <see cref="SubscribeAsync"/>, and a direct get by subject for
/// <see cref="ReadAsync"/>.
/// </para>
/// </remarks>
internal interface IBrokerEngine : IAsyncDisposable
{
    /// <summary>True while the node is connected to the broker (publishes are refused while it is not).</summary>
    bool IsConnected { get; }

    /// <summary>Messages dropped on arrival because too many of their channel's waited for the fan-out (refilled or announced later).</summary>
    long MessagesShed { get; }

    /// <summary>Raised when the connection comes back after a loss (the engine has re-subscribed by then).</summary>
    event Action? Reconnected;

    /// <summary>Raised when the connection is lost.</summary>
    event Action? Disconnected;

    /// <summary>Number, keep and publish one message (see the remarks). The data is read before the task completes.</summary>
    Task PublishAsync(string channel, NamespaceOptions settings, ReadOnlyMemory<byte> data);

    /// <summary>Raised after the messages of one read from the broker were handed over (the last of them without <c>MoreWaiting</c>): deliver now.</summary>
    event Action? BatchEnded;

    /// <summary>
    /// Starts receiving <paramref name="channel"/>'s messages; completes once the broker confirmed the subscription, so
    /// a <see cref="ReadAsync"/> after it misses nothing in between. <paramref name="onMessage"/> is called for one
    /// message at a time, in the broker's order, on the engine's receiving thread, and not awaited: the message's data
    /// is valid only during the call (the handler copies what it keeps), and a handler that cannot finish at once keeps
    /// the channel's order itself. The engine bounds how many of a channel's calls may be unfinished
    /// (<see cref="MessagesShed"/>). Disposing the result ends this subscription (and only it).
    /// </summary>
    Task<IAsyncDisposable> SubscribeAsync(string channel, Func<BrokerMessage, Task> onMessage);

    /// <summary>
    /// The channel's state (creating its epoch when it has none) and its kept messages after <paramref name="afterSeq"/>
    /// (oldest first, at most <paramref name="count"/>), or with <paramref name="afterSeq"/> below 0 its newest
    /// <paramref name="count"/> messages.
    /// </summary>
    Task<BrokerStream> ReadAsync(string channel, NamespaceOptions settings, long afterSeq, int count);

    /// <summary>Keeps the state of channels this node follows from expiring while they have no publishes (fire and forget).</summary>
    void Renew(string channel, NamespaceOptions settings);

    /// <summary>One round trip to the broker.</summary>
    Task<TimeSpan> PingAsync();
}
