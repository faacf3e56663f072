using System.Net;

namespace FastWs.Server.Limits;

/// <summary>
/// Counts connections in total and per client IP against the configured limits. Taken once per connection at the
/// handshake and released when it ends; a plain lock is enough at handshake rates and keeps both counts exact.
/// </summary>
public sealed class ConnectionLimiter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, int> _perIp = new();
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

    /// <summary>Takes a slot for <paramref name="ip"/>; on refusal returns the reason to send with close 1008.</summary>
    public bool TryAcquire(IPAddress ip, out string refusal)
    {
        lock (_lock)
        {
            if (_maxTotal > 0 && _total >= _maxTotal)
            {
                refusal = "Server connection limit reached";
                return false;
            }

            _perIp.TryGetValue(ip, out int fromIp);
            if (_maxPerIp > 0 && fromIp >= _maxPerIp)
            {
                refusal = "Too many connections from this IP";
                return false;
            }

            _perIp[ip] = fromIp + 1;
            _total++;
            refusal = string.Empty;
            return true;
        }
    }

    public void Release(IPAddress ip)
    {
        lock (_lock)
        {
            if (_perIp.TryGetValue(ip, out int fromIp))
            {
                if (fromIp <= 1)
                {
                    _perIp.Remove(ip);
                }
                else
                {
                    _perIp[ip] = fromIp - 1;
                }

                _total--;
            }
        }
    }
}
