using System.Collections.Concurrent;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>Channels with a history, the messages they keep, the bytes of that data and of the pooled buffers holding it.</summary>
public readonly record struct HistoryStats(int Channels, long Messages, long DataBytes, long BufferBytes);

/// <summary>
/// All channels that have subscribers, or had them (or were published to) within their namespace's <c>Retention</c>.
/// Lookups by name (string or span) are lock-free; adding and removing a subscriber locks only that channel.
/// </summary>
/// <remarks>
/// A channel without subscribers is kept in a separate idle set, which the supervisor's tick walks
/// (<see cref="RemoveExpired"/>): only idle channels are looked at, and one whose retention has passed leaves the
/// registry and gives its history's buffers back. A channel of a namespace that keeps nothing and has no retention
/// leaves with its last subscriber, as before.
/// </remarks>
public sealed class ChannelRegistry
{
    private readonly ConcurrentDictionary<string, Channel> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Channel>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly ConcurrentDictionary<Channel, byte> _idle = new(ReferenceEqualityComparer.Instance);
    private readonly int _shardCount;

    public ChannelRegistry(int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        _shardCount = shardCount;
        _bySpan = _channels.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _channels.Count;

    /// <summary>
    /// With a broker (several nodes): how long a channel without local subscribers stays (the broker's interest
    /// linger), instead of its namespace's <c>Retention</c>, since the broker keeps its state. Below 0 without a broker.
    /// </summary>
    internal long LingerOverrideMs { get; set; } = -1;

    /// <summary>Raised (under the channel's lock) when a channel leaves the registry: a broker stops following it.</summary>
    internal event Action<Channel>? ChannelRemoved;

    public int ShardCount => _shardCount;

    public bool TryGet(ReadOnlySpan<char> name, out Channel channel) => _bySpan.TryGetValue(name, out channel!);

    public ICollection<Channel> Channels => _channels.Values;

    /// <summary>
    /// Every channel, walked without locks and without copying the set (<see cref="Channels"/> copies it, taking every
    /// lock of the dictionary): a channel added or removed during the walk may or may not be seen.
    /// </summary>
    internal IEnumerable<Channel> Walk()
    {
        foreach (KeyValuePair<string, Channel> entry in _channels)
        {
            yield return entry.Value;
        }
    }

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
                    // An idle channel leaves the idle set at the next sweep, which sees it has subscribers again.
                    channel.EmptySinceMs = 0;
                    if (connection.Deflate.IsEnabled)
                    {
                        Volatile.Write(ref channel.DeflateSubscribers, channel.DeflateSubscribers + 1);
                    }

                    return channel.Subscribers.Add(connection);
                }
            }
        }
    }

    /// <summary>
    /// The channel a publish goes to: the existing one, or, for a namespace that keeps messages (history or snapshot)
    /// for a while, a new one, so what is published while nobody listens is numbered and kept. Null when there is none
    /// and none is needed (the publish then costs nothing).
    /// </summary>
    internal Channel? GetForPublish(ReadOnlySpan<char> name, NamespaceOptions settings)
    {
        if (_bySpan.TryGetValue(name, out Channel? existing))
        {
            return existing;
        }

        if (!settings.KeepsMessages || settings.Retention <= TimeSpan.Zero)
        {
            return null;
        }

        return GetOrCreateIdle(new string(name), settings);
    }

    /// <summary>
    /// The channel of that name, created without subscribers (idle, so it goes after its retention or linger) when
    /// there is none: a broker follows it before its first subscriber joins, and conflation keeps its state on it.
    /// </summary>
    internal Channel GetOrCreateIdle(string name, NamespaceOptions settings)
    {
        while (true)
        {
            Channel channel = _channels.GetOrAdd(name, static (key, state) => new Channel(key, state.settings, state.registry.ShardFor(key)), (settings, registry: this));
            lock (channel.SyncRoot)
            {
                if (channel.IsRemoved)
                {
                    continue;
                }

                if (channel.Subscribers.Count == 0 && channel.EmptySinceMs == 0)
                {
                    channel.EmptySinceMs = Environment.TickCount64;
                    _idle.TryAdd(channel, 0);
                }

                return channel;
            }
        }
    }

    /// <summary>
    /// Removes a subscriber. When it was the last, the channel goes now if its namespace keeps no state, or else joins
    /// the idle set to go when its retention has passed.
    /// </summary>
    internal void Unsubscribe(Channel channel, int slot)
    {
        lock (channel.SyncRoot)
        {
            if (channel.Subscribers.Get(slot) is { Deflate.IsEnabled: true })
            {
                Volatile.Write(ref channel.DeflateSubscribers, channel.DeflateSubscribers - 1);
            }

            channel.Subscribers.Remove(slot);
            if (channel.Subscribers.Count == 0)
            {
                if (LingerOverrideMs >= 0 || channel.Settings.Retention > TimeSpan.Zero)
                {
                    channel.EmptySinceMs = Environment.TickCount64;
                    _idle.TryAdd(channel, 0);
                }
                else
                {
                    RemoveLocked(channel);
                }
            }
        }
    }

    /// <summary>
    /// Removes the idle channels whose retention has passed (called by the supervisor's tick; looks only at idle
    /// channels). Returns how many went.
    /// </summary>
    internal int RemoveExpired(long nowMs)
    {
        int removed = 0;
        foreach (Channel channel in _idle.Keys)
        {
            lock (channel.SyncRoot)
            {
                if (channel.IsRemoved || channel.Subscribers.Count > 0)
                {
                    // Subscribed again (or gone): it is no longer idle.
                    channel.EmptySinceMs = 0;
                    _idle.TryRemove(channel, out _);
                    continue;
                }

                long idleSince = Math.Max(channel.EmptySinceMs, Volatile.Read(ref channel.LastIdlePublishMs));
                long keepMs = LingerOverrideMs >= 0 ? LingerOverrideMs : (long)channel.Settings.Retention.TotalMilliseconds;
                if (nowMs - idleSince < keepMs)
                {
                    continue;
                }

                RemoveLocked(channel);
                removed++;
            }
        }

        return removed;
    }

    /// <summary>What the channels' histories hold, summed (walks every channel: for stats, not for hot paths).</summary>
    public HistoryStats History()
    {
        int channels = 0;
        long messages = 0, dataBytes = 0, bufferBytes = 0;
        foreach (Channel channel in _channels.Values)
        {
            if (channel.History is { } history)
            {
                lock (history.SyncRoot)
                {
                    channels++;
                    messages += history.Count;
                    dataBytes += history.Bytes;
                    bufferBytes += history.BufferBytes;
                }
            }
        }

        return new HistoryStats(channels, messages, dataBytes, bufferBytes);
    }

    /// <summary>Channels without subscribers that keep their state for now.</summary>
    public int IdleCount => _idle.Count;

    private void RemoveLocked(Channel channel)
    {
        channel.IsRemoved = true;
        // Out of the idle set before the registry, so a reader that sees the channel gone never still counts it idle.
        _idle.TryRemove(channel, out _);
        _channels.TryRemove(new KeyValuePair<string, Channel>(channel.Name, channel));
        channel.History?.Release();
        ChannelRemoved?.Invoke(channel);
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
