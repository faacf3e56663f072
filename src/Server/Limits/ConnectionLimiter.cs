using System.Net;

namespace FastWs.Server.Limits;

/// <summary>
/// Counts connections in total and per client IP against the configured limits. Taken once per connection at the
/// handshake and released when it ends; a plain lock is enough at handshake rates and keeps both counts exact.
/// </summary>
public sealed class ConnectionLimiter
{
    private readonly Lock _lock = new();
    // Each address's count, and the address object itself: every connection from it keeps that one instance.
    private readonly Dictionary<IPAddress, (IPAddress Address, int Count)> _perIp = new();
    private readonly int _maxTotal;
    private readonly int _maxPerIp;
    private int _total;

    public ConnectionLimiter(int maxTotal, int maxPerIp)
    {
        _maxTotal = maxTotal;
        _maxPerIp = maxPerIp;
    }

    public int Total
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    /// <summary>Distinct client IPs holding connections (for leak checks and stats).</summary>
    public int DistinctIps
    {
        get
        {
            lock (_lock)
            {
                return _perIp.Count;
            }
        }
    }

    /// <summary>The most connections any one client IP holds now (the dashboard's use of the per-IP limit).</summary>
    public int LargestPerIp
    {
        get
        {
            lock (_lock)
            {
                int largest = 0;
                foreach ((IPAddress _, int count) in _perIp.Values)
                {
                    largest = Math.Max(largest, count);
                }

                return largest;
            }
        }
    }

    /// <summary>
    /// Takes a slot for <paramref name="ip"/>. On success <paramref name="counted"/> is the address instance the
    /// limiter counts under, equal to <paramref name="ip"/> and shared by all its connections (keep that one, not a
    /// copy per connection); on refusal it is <paramref name="ip"/> and <paramref name="refusal"/> is the reason to
    /// send with close 1008.
    /// </summary>
    public bool TryAcquire(IPAddress ip, out IPAddress counted, out string refusal)
    {
        counted = ip;
        lock (_lock)
        {
            if (_maxTotal > 0 && _total >= _maxTotal)
            {
                refusal = "Server connection limit reached";
                return false;
            }

            (IPAddress Address, int Count) fromIp = _perIp.TryGetValue(ip, out var known) ? known : (ip, 0);
            if (_maxPerIp > 0 && fromIp.Count >= _maxPerIp)
            {
                refusal = "Too many connections from this IP";
                return false;
            }

            _perIp[ip] = (fromIp.Address, fromIp.Count + 1);
            _total++;
            counted = fromIp.Address;
            refusal = string.Empty;
            return true;
        }
    }

    public void Release(IPAddress ip)
    {
        lock (_lock)
        {
            if (_perIp.TryGetValue(ip, out var fromIp))
            {
                if (fromIp.Count <= 1)
                {
                    _perIp.Remove(ip);
                }
                else
                {
                    _perIp[ip] = (fromIp.Address, fromIp.Count - 1);
                }

                _total--;
            }
        }
    }
}
