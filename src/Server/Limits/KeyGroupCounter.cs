namespace FastWs.Server.Limits;

/// <summary>
/// Connections per channel key group ("SOL" for price:SOL, trades:SOL and funding:SOL), for the per-group
/// subscriber limit and the stats. A connection counts once per group however many of its channels it joins.
/// </summary>
public sealed class KeyGroupCounter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly int _limit;

    public KeyGroupCounter(int limit)
    {
        _limit = limit;
    }

    public bool TryJoin(string group)
    {
        lock (_lock)
        {
            _counts.TryGetValue(group, out int count);
            if (_limit > 0 && count >= _limit)
            {
                return false;
            }

            _counts[group] = count + 1;
            return true;
        }
    }

    public void Leave(string group)
    {
        lock (_lock)
        {
            if (_counts.TryGetValue(group, out int count))
            {
                if (count <= 1)
                {
                    _counts.Remove(group);
                }
                else
                {
                    _counts[group] = count - 1;
                }
            }
        }
    }

    public Dictionary<string, int> Snapshot()
    {
        lock (_lock)
        {
            return new Dictionary<string, int>(_counts, StringComparer.Ordinal);
        }
    }

    public int GroupCount
    {
        get
        {
            lock (_lock)
            {
                return _counts.Count;
            }
        }
    }
}
