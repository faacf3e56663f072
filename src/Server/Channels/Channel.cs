using System.Text;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>
/// One live channel: its subscribers and the sequence counter of its messages. A channel exists only while it
/// has subscribers; the last one out removes it from the registry, so idle channels cost nothing.
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
        // Names are restricted to characters that need no JSON escaping, so the frame prefix is built once.
        MessagePrefix = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"channel\":\"" + name + "\",\"seq\":");
    }

    public string Name { get; }

    public NamespaceOptions Settings { get; }

    /// <summary>The key after the namespace ("SOL" for price:SOL), shared by a slab's channels; null without a key.</summary>
    public string? KeyGroup { get; }

    /// <summary>Which fan-out shard orders and delivers this channel's messages.</summary>
    internal int Shard { get; }

    /// <summary><c>{"type":"message","channel":"NAME","seq":</c> as UTF-8.</summary>
    internal byte[] MessagePrefix { get; }

    internal ConnectionSlots Subscribers { get; } = new();

    /// <summary>Guards subscriber changes and <see cref="IsRemoved"/>; never taken on the publish path.</summary>
    internal Lock SyncRoot { get; } = new();

    /// <summary>Set (under the lock) when the channel left the registry; a subscriber racing in must retry.</summary>
    internal bool IsRemoved { get; set; }

    /// <summary>Last sequence number sent. Only the thread delivering its shard touches it.</summary>
    internal long LastSequence { get; set; }

    /// <summary>
    /// Where this channel's last message is in the fan-out batch being delivered, so the shard knows which of a
    /// batch's messages nothing later in it follows on this channel. Only the thread delivering its shard touches it.
    /// </summary>
    internal int LastIndexInBatch { get; set; }

    public int SubscriberCount => Subscribers.Count;
}
