using System.Security.Cryptography;
using System.Text;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>
/// One channel: its subscribers, the numbering of its messages (<see cref="Epoch"/>, <see cref="LastSequence"/>) and,
/// when its namespace keeps any, its recent messages (<see cref="History"/>). A channel exists while it has
/// subscribers and, when its namespace has a <c>Retention</c>, that long after the last one left; a namespace that
/// keeps messages (history or snapshot) also creates it on publish, so what is published while nobody listens is
/// counted and kept. Channels of namespaces that keep nothing cost nothing when idle.
/// </summary>
public sealed class Channel
{
    internal Channel(string name, NamespaceOptions settings, int shard)
    {
        Name = name;
        Settings = settings;
        Shard = shard;
        int colon = name.IndexOf(':', StringComparison.Ordinal);
        KeyGroup = colon < 0 ? null : name[(colon + 1)..];
        // Names are restricted to characters that need no JSON escaping, so the frame parts are built once.
        MessagePrefix = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"channel\":\"" + name + "\",\"seq\":");
        InlineSuffix = Encoding.UTF8.GetBytes("\"channel\":\"" + name + "\",\"seq\":");
        Inline = settings.Format == MessageFormat.Inline;
        _epoch = NewEpoch();
        History = settings.KeepsMessages ? new ChannelHistory(settings) : null;
        Conflation = settings.ConflationInterval > TimeSpan.Zero ? new ConflationState(this) : null;
    }

    public string Name { get; }

    public NamespaceOptions Settings { get; }

    /// <summary>The key after the namespace ("SOL" for price:SOL), shared by a slab's channels; null without a key.</summary>
    public string? KeyGroup { get; }

    /// <summary>
    /// Which run of this channel's sequence this is: random, new whenever the channel is created (first subscriber or
    /// publish, after a restart, after its state expired). A client's <c>since</c> from another epoch cannot be recovered.
    /// </summary>
    /// <remarks>
    /// With a broker the epoch is the broker's, set when the node starts following the channel and when the broker's
    /// stream restarts (<see cref="SetEpoch"/>, by the delivering thread or before the channel has subscribers).
    /// </remarks>
    public string Epoch => Volatile.Read(ref _epoch);

    private string _epoch;

    internal void SetEpoch(string epoch) => Volatile.Write(ref _epoch, epoch);

    /// <summary>
    /// The broker's per-node state for this channel (interest and sync), when a broker serves it; null on a single
    /// node. Set under <see cref="SyncRoot"/>.
    /// </summary>
    internal Broker.ChannelInterest? Interest { get; set; }

    /// <summary>Which fan-out shard orders and delivers this channel's messages.</summary>
    internal int Shard { get; }

    /// <summary>Messages go out in the inline format (the published object with channel and seq appended).</summary>
    internal bool Inline { get; }

    /// <summary><c>{"type":"message","channel":"NAME","seq":</c> as UTF-8 (envelope format).</summary>
    internal byte[] MessagePrefix { get; }

    /// <summary><c>"channel":"NAME","seq":</c> as UTF-8 (inline format, appended to the published object).</summary>
    internal byte[] InlineSuffix { get; }

    /// <summary>Recent messages, when the namespace keeps a history or a snapshot; null otherwise.</summary>
    internal ChannelHistory? History { get; }

    /// <summary>The conflation state, when the namespace has a <c>ConflationInterval</c>; null otherwise.</summary>
    internal ConflationState? Conflation { get; }

    internal ConnectionSlots Subscribers { get; } = new();

    /// <summary>Guards subscriber changes and <see cref="IsRemoved"/>; never taken on the publish path.</summary>
    internal Lock SyncRoot { get; } = new();

    /// <summary>Set (under the lock) when the channel left the registry; a subscriber racing in must retry.</summary>
    internal bool IsRemoved { get; set; }

    /// <summary>Since when (Environment.TickCount64 ms) the channel has had no subscribers; written under the lock.</summary>
    internal long EmptySinceMs { get; set; }

    /// <summary>
    /// When (Environment.TickCount64 ms) something was last published to the channel while it had no subscribers:
    /// retention counts from the later of this and <see cref="EmptySinceMs"/>, so a channel that is still published
    /// to (an hourly funding rate, say) keeps its snapshot for the next subscriber.
    /// </summary>
    internal long LastIdlePublishMs;

    /// <summary>
    /// Last sequence number given out. Only the thread delivering its shard writes it (it is the single node's
    /// numbering: see <see cref="IChannelLog"/>); subscribers read it while they join.
    /// </summary>
    internal long LastSequence;

    /// <summary>The last <c>seq</c> whose fan-out to every subscriber has finished (written by the delivering thread).</summary>
    internal long DeliveredThrough;

    /// <summary>
    /// Where this channel's last message is in the fan-out batch being delivered, so the shard knows which of a
    /// batch's messages nothing later in it follows on this channel. Only the thread delivering its shard touches it.
    /// </summary>
    internal int LastIndexInBatch { get; set; }

    /// <summary>
    /// Subscribers that negotiated permessage-deflate: fan-out compresses a message only when there is one. Written
    /// under <see cref="SyncRoot"/> as they join and leave, read without it by the delivering thread; a subscriber
    /// joining after that read gets the uncompressed frames, which RFC 7692 allows for any message.
    /// </summary>
    internal int DeflateSubscribers;

    /// <summary>
    /// Write coalescing (a namespace with a <c>WriteDelay</c>): when this channel's last run of messages was fanned
    /// out, and the smoothed interval between its runs, both <see cref="TimeProvider"/> ticks. Written only by the
    /// fan-out shard that owns the channel (see <see cref="FanOut.WriteCoalescer.Horizon"/>).
    /// </summary>
    internal long LastHeldRunAt;

    internal long RunInterval;

    /// <summary>
    /// Write coalescing: the groups of this channel's subscribers holding data, in deadline order (see
    /// <see cref="FanOut.WriteCoalescer.HeldGroup"/>). Used only by the fan-out shard that owns the channel, under the
    /// coalescer's lock.
    /// </summary>
    internal Queue<FanOut.WriteCoalescer.HeldGroup>? HeldGroups;

    public int SubscriberCount => Subscribers.Count;

    /// <summary>The channel's current position: its epoch and the last <c>seq</c> given out.</summary>
    public StreamPosition Position => new(Epoch, Volatile.Read(ref LastSequence));

    /// <summary>16 hex digits from the system's random source: unique across restarts and nodes.</summary>
    private static string NewEpoch()
    {
        Span<byte> random = stackalloc byte[8];
        RandomNumberGenerator.Fill(random);
        return Convert.ToHexStringLower(random);
    }
}
