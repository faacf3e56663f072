namespace FastWs.Server.Channels;

/// <summary>
/// The channels one connection is subscribed to, with each one's slot in the channel's subscriber list, and the
/// per-connection counts the limits need: channels per quota and per key group. Owned by the connection's
/// read loop (and its clean-up afterwards), so it needs no locking. Empty until the first subscription.
/// </summary>
/// <remarks>
/// Most connections hold a handful of subscriptions, so they live in a small array searched in order, and the
/// quota and key-group counts are counted from it when asked: about 40 bytes for one subscription, where three
/// dictionaries took over 400. Past <see cref="SmallLimit"/> subscriptions (possible when the per-connection
/// limit is raised or off) the set switches to dictionaries so every operation stays O(1).
/// </remarks>
internal sealed class SubscriptionSet
{
    internal const int SmallLimit = 16;

    private KeyValuePair<Channel, int>[] _small = new KeyValuePair<Channel, int>[1];
    private int _count;

    // Large mode only.
    private Dictionary<Channel, int>? _slots;
    private Dictionary<string, int>? _perQuota;
    private Dictionary<string, int>? _perKeyGroup;

    public int Count => _slots?.Count ?? _count;

    public IEnumerable<KeyValuePair<Channel, int>> All => _slots ?? (IEnumerable<KeyValuePair<Channel, int>>)new ArraySegment<KeyValuePair<Channel, int>>(_small, 0, _count);

    public bool Contains(Channel channel) => _slots?.ContainsKey(channel) ?? IndexOf(channel) >= 0;

    public int CountInQuota(string quota)
    {
        if (_slots is not null)
        {
            return _perQuota!.TryGetValue(quota, out int n) ? n : 0;
        }

        return CountSmall(quota, byQuota: true);
    }

    /// <summary>True when the connection already has a channel in this key group (so it already counts toward it).</summary>
    public bool IsInKeyGroup(string group) => _slots is not null ? _perKeyGroup!.ContainsKey(group) : CountSmall(group, byQuota: false) > 0;

    public void Add(Channel channel, int slot)
    {
        if (_slots is not null)
        {
            _slots.Add(channel, slot);
            CountIn(ref _perQuota, channel.Settings.Quota, +1);
            CountIn(ref _perKeyGroup, channel.KeyGroup, +1);
            return;
        }

        if (IndexOf(channel) >= 0)
        {
            throw new ArgumentException("The channel is already in the set.", nameof(channel));
        }

        if (_count == SmallLimit)
        {
            SwitchToLarge();
            Add(channel, slot);
            return;
        }

        if (_count == _small.Length)
        {
            Array.Resize(ref _small, Math.Min(_count * 2, SmallLimit));
        }

        _small[_count++] = new(channel, slot);
    }

    /// <summary>Removes a channel; <paramref name="leftKeyGroup"/> is set when it was the connection's last one in its key group.</summary>
    public bool Remove(Channel channel, out int slot, out bool leftKeyGroup)
    {
        leftKeyGroup = false;
        if (_slots is not null)
        {
            if (!_slots.Remove(channel, out slot))
            {
                return false;
            }

            CountIn(ref _perQuota, channel.Settings.Quota, -1);
            leftKeyGroup = CountIn(ref _perKeyGroup, channel.KeyGroup, -1) == 0;
            return true;
        }

        int index = IndexOf(channel);
        if (index < 0)
        {
            slot = -1;
            return false;
        }

        slot = _small[index].Value;
        _small[index] = _small[--_count];
        _small[_count] = default;
        leftKeyGroup = channel.KeyGroup is { } group && CountSmall(group, byQuota: false) == 0;
        return true;
    }

    private int IndexOf(Channel channel)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_small[i].Key, channel))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Small mode: the channels whose quota (or key group) is <paramref name="name"/>.</summary>
    private int CountSmall(string name, bool byQuota)
    {
        int count = 0;
        for (int i = 0; i < _count; i++)
        {
            Channel channel = _small[i].Key;
            if (string.Equals(byQuota ? channel.Settings.Quota : channel.KeyGroup, name, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    private void SwitchToLarge()
    {
        _slots = new Dictionary<Channel, int>(_count * 2);
        _perQuota = new Dictionary<string, int>(StringComparer.Ordinal);
        _perKeyGroup = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _count; i++)
        {
            Channel channel = _small[i].Key;
            _slots.Add(channel, _small[i].Value);
            CountIn(ref _perQuota, channel.Settings.Quota, +1);
            CountIn(ref _perKeyGroup, channel.KeyGroup, +1);
        }

        _small = [];
        _count = 0;
    }

    /// <summary>Adjusts a large-mode count; returns the new count (-1 when there is no key).</summary>
    private static int CountIn(ref Dictionary<string, int>? counts, string? key, int delta)
    {
        if (key is null)
        {
            return -1;
        }

        counts ??= new Dictionary<string, int>(StringComparer.Ordinal);
        counts.TryGetValue(key, out int n);
        n += delta;
        if (n <= 0)
        {
            counts.Remove(key);
            return 0;
        }

        counts[key] = n;
        return n;
    }
}
