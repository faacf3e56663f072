namespace FastWs.Server.Channels;

/// <summary>
/// The channels one connection is subscribed to, with each one's slot in the channel's subscriber list, and the
/// per-connection counts the limits need: channels per quota and per key group. Owned by the connection's
/// read loop (and its clean-up afterwards), so it needs no locking. Empty until the first subscription.
/// </summary>
internal sealed class SubscriptionSet
{
    private readonly Dictionary<Channel, int> _slots = new();
    private Dictionary<string, int>? _perQuota;
    private Dictionary<string, int>? _perKeyGroup;

    public int Count => _slots.Count;

    public IEnumerable<KeyValuePair<Channel, int>> All => _slots;

    public bool Contains(Channel channel) => _slots.ContainsKey(channel);

    public int CountInQuota(string quota) => _perQuota is not null && _perQuota.TryGetValue(quota, out int n) ? n : 0;

    /// <summary>True when the connection already has a channel in this key group (so it already counts toward it).</summary>
    public bool IsInKeyGroup(string group) => _perKeyGroup is not null && _perKeyGroup.ContainsKey(group);

    public void Add(Channel channel, int slot)
    {
        _slots.Add(channel, slot);
        if (channel.Settings.Quota is { } quota)
        {
            _perQuota ??= new Dictionary<string, int>(StringComparer.Ordinal);
            _perQuota[quota] = CountInQuota(quota) + 1;
        }

        if (channel.KeyGroup is { } group)
        {
            _perKeyGroup ??= new Dictionary<string, int>(StringComparer.Ordinal);
            _perKeyGroup.TryGetValue(group, out int n);
            _perKeyGroup[group] = n + 1;
        }
    }

    /// <summary>Removes a channel; <paramref name="leftKeyGroup"/> is set when it was the connection's last one in its key group.</summary>
    public bool Remove(Channel channel, out int slot, out bool leftKeyGroup)
    {
        leftKeyGroup = false;
        if (!_slots.Remove(channel, out slot))
        {
            return false;
        }

        if (channel.Settings.Quota is { } quota && _perQuota is not null)
        {
            int left = CountInQuota(quota) - 1;
            if (left <= 0)
            {
                _perQuota.Remove(quota);
            }
            else
            {
                _perQuota[quota] = left;
            }
        }

        if (channel.KeyGroup is { } group && _perKeyGroup is not null && _perKeyGroup.TryGetValue(group, out int n))
        {
            if (n <= 1)
            {
                _perKeyGroup.Remove(group);
                leftKeyGroup = true;
            }
            else
            {
                _perKeyGroup[group] = n - 1;
            }
        }

        return true;
    }
}
