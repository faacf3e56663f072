using System.Collections.Concurrent;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>
/// All channels that currently have subscribers. Lookups by name (string or span) are lock-free; adding and
/// removing a subscriber locks only that channel.
/// </summary>
public sealed class ChannelRegistry
{
    private readonly ConcurrentDictionary<string, Channel> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Channel>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly int _shardCount;

    public ChannelRegistry(int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        _shardCount = shardCount;
        _bySpan = _channels.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _channels.Count;

    public int ShardCount => _shardCount;

    public bool TryGet(ReadOnlySpan<char> name, out Channel channel) => _bySpan.TryGetValue(name, out channel!);

    public ICollection<Channel> Channels => _channels.Values;

    /// <summary>
    /// Adds a subscriber, creating the channel if needed. Returns the slot to pass to <see cref="Unsubscribe"/>.
    /// </summary>
    internal int Subscribe(string name, NamespaceOptions settings, WebSocketConnection connection, out Channel channel)
    {
        while (true)
        {
            channel = _channels.GetOrAdd(name, static (key, state) => new Channel(key, state.settings, state.registry.ShardFor(key)), (settings, registry: this));
            lock (channel.SyncRoot)
            {
                // The last subscriber may have removed this channel between GetOrAdd and the lock.
                if (!channel.IsRemoved)
                {
                    return channel.Subscribers.Add(connection);
                }
            }
        }
    }

    /// <summary>Removes a subscriber; the channel itself goes when its last subscriber does.</summary>
    internal void Unsubscribe(Channel channel, int slot)
    {
        lock (channel.SyncRoot)
        {
            channel.Subscribers.Remove(slot);
            if (channel.Subscribers.Count == 0)
            {
                channel.IsRemoved = true;
                _channels.TryRemove(new KeyValuePair<string, Channel>(channel.Name, channel));
            }
        }
    }

    private int ShardFor(string name) => _shardCount == 1 ? 0 : (int)((uint)StableHash(name) % (uint)_shardCount);

    /// <summary>FNV-1a: stable across processes, unlike string.GetHashCode, so shard placement is reproducible.</summary>
    private static int StableHash(string s)
    {
        uint hash = 2166136261;
        foreach (char c in s)
        {
            hash = (hash ^ c) * 16777619;
        }

        return (int)hash;
    }
}
