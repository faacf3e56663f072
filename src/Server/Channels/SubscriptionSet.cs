namespace FastWs.Server.Channels;

/// <summary>
/// The channels one connection is subscribed to, with each one's slot in the channel's subscriber list, and the
/// per-connection counts the limits need: channels per quota and per key group. Owned by the connection's
/// read loop (and its clean-up afterwards), so it needs no locking. Empty until the first subscription.
/// </summary>
/// <remarks>
/// Most connections hold a handful of subscriptions, so they live in small mode: the first inline in this object
/// (a one-channel connection needs no array at all), the rest in a small array searched in order, and the quota
/// and key-group counts are counted from them when asked: 48 bytes for one subscription, where three dictionaries
/// took over 400. Past <see cref="SmallLimit"/> subscriptions (possible when the per-connection limit is raised or
/// off) the set switches to dictionaries (<see cref="LargeSet"/>) so every operation stays O(1).
/// </remarks>
internal sealed class SubscriptionSet
{
    internal const int SmallLimit = 16;

    // Small mode: subscription 0 is (_first, _firstSlot), subscription i > 0 is _more[i - 1].
    private Channel? _first;
    private KeyValuePair<Channel, int>[]? _more;
    private int _firstSlot;
    private int _count;

    // Large mode only.
    private LargeSet? _large;

    public int Count => _large?.Slots.Count ?? _count;

    /// <summary>A copy of every (channel, slot) pair, for removing them all.</summary>
    public KeyValuePair<Channel, int>[] ToArray()
    {
        if (_large is not null)
        {
            return [.. _large.Slots];
        }

        var all = new KeyValuePair<Channel, int>[_count];
        for (int i = 0; i < _count; i++)
        {
            all[i] = new(ChannelAt(i), SlotAt(i));
        }

        return all;
    }

    /// <summary>
    /// Adds the subscribed channels' names to <paramref name="names"/>, read from another thread (the connections view)
    /// without the read loop's ownership of the set: a channel being added or removed at that very moment may be
    /// missing or still listed, and the names come in no particular order. Never throws for that race.
    /// </summary>
    public void CopyNamesTo(List<string> names)
    {
        if (Volatile.Read(ref _large) is { } large)
        {
            try
            {
                foreach (Channel channel in large.Slots.Keys)
                {
                    if (channel is not null)
                    {
                        names.Add(channel.Name);
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or IndexOutOfRangeException)
            {
                // Changed under the walk: what was read so far stands.
            }

            return;
        }

        // Small mode: each field read once; the array reference is never shrunk, and a slot cleared meanwhile is null.
        int count = Volatile.Read(ref _count);
        Channel? first = Volatile.Read(ref _first);
        KeyValuePair<Channel, int>[]? more = Volatile.Read(ref _more);
        if (count > 0 && first is not null)
        {
            names.Add(first.Name);
        }

        for (int i = 0; more is not null && i < Math.Min(count - 1, more.Length); i++)
        {
            if (more[i].Key is { } channel)
            {
                names.Add(channel.Name);
            }
        }
    }

    public bool Contains(Channel channel) => _large?.Slots.ContainsKey(channel) ?? IndexOf(channel) >= 0;

    public int CountInQuota(string quota)
    {
        if (_large is not null)
        {
            return _large.PerQuota.TryGetValue(quota, out int n) ? n : 0;
        }

        return CountSmall(quota, byQuota: true);
    }

    /// <summary>True when the connection already has a channel in this key group (so it already counts toward it).</summary>
    public bool IsInKeyGroup(string group) => _large is not null ? _large.PerKeyGroup.ContainsKey(group) : CountSmall(group, byQuota: false) > 0;

    public void Add(Channel channel, int slot)
    {
        if (_large is not null)
        {
            _large.Add(channel, slot);
            return;
        }

        if (IndexOf(channel) >= 0)
        {
            throw new ArgumentException("The channel is already in the set.", nameof(channel));
        }

        if (_count == SmallLimit)
        {
            SwitchToLarge();
            _large!.Add(channel, slot);
            return;
        }

        if (_count > 0 && (_more is null || _count - 1 == _more.Length))
        {
            Array.Resize(ref _more, Math.Min(Math.Max(_count * 2 - 1, 1), SmallLimit - 1));
        }

        SetAt(_count++, channel, slot);
    }

    /// <summary>Removes a channel; <paramref name="leftKeyGroup"/> is set when it was the connection's last one in its key group.</summary>
    public bool Remove(Channel channel, out int slot, out bool leftKeyGroup)
    {
        if (_large is not null)
        {
            return _large.Remove(channel, out slot, out leftKeyGroup);
        }

        leftKeyGroup = false;
        int index = IndexOf(channel);
        if (index < 0)
        {
            slot = -1;
            return false;
        }

        slot = SlotAt(index);
        int last = --_count;
        SetAt(index, ChannelAt(last), SlotAt(last));
        SetAt(last, null, 0);
        leftKeyGroup = channel.KeyGroup is { } group && CountSmall(group, byQuota: false) == 0;
        return true;
    }

    private Channel ChannelAt(int index) => index == 0 ? _first! : _more![index - 1].Key;

    private int SlotAt(int index) => index == 0 ? _firstSlot : _more![index - 1].Value;

    private void SetAt(int index, Channel? channel, int slot)
    {
        if (index == 0)
        {
            _first = channel;
            _firstSlot = slot;
        }
        else
        {
            _more![index - 1] = new(channel!, slot);
        }
    }

    private int IndexOf(Channel channel)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(ChannelAt(i), channel))
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
            Channel channel = ChannelAt(i);
            if (string.Equals(byQuota ? channel.Settings.Quota : channel.KeyGroup, name, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    private void SwitchToLarge()
    {
        var large = new LargeSet(_count * 2);
        for (int i = 0; i < _count; i++)
        {
            large.Add(ChannelAt(i), SlotAt(i));
        }

        _large = large;
        _first = null;
        _more = null;
        _count = 0;
    }

    /// <summary>Large mode: the slots and both counts in dictionaries.</summary>
    private sealed class LargeSet(int capacity)
    {
        public Dictionary<Channel, int> Slots { get; } = new(capacity);

        public Dictionary<string, int> PerQuota { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, int> PerKeyGroup { get; } = new(StringComparer.Ordinal);

        public void Add(Channel channel, int slot)
        {
            Slots.Add(channel, slot);
            CountIn(PerQuota, channel.Settings.Quota, +1);
            CountIn(PerKeyGroup, channel.KeyGroup, +1);
        }

        public bool Remove(Channel channel, out int slot, out bool leftKeyGroup)
        {
            leftKeyGroup = false;
            if (!Slots.Remove(channel, out slot))
            {
                return false;
            }

            CountIn(PerQuota, channel.Settings.Quota, -1);
            leftKeyGroup = CountIn(PerKeyGroup, channel.KeyGroup, -1) == 0;
            return true;
        }

        /// <summary>Adjusts a count; returns the new count (-1 when there is no key).</summary>
        private static int CountIn(Dictionary<string, int> counts, string? key, int delta)
        {
            if (key is null)
            {
                return -1;
            }

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
}
