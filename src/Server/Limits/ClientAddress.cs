using System.Net;

namespace FastWs.Server.Limits;

/// <summary>
/// Works out which IP a connection belongs to for per-IP limits. X-Forwarded-For is believed only when the TCP
/// peer is a configured trusted proxy; then the client is the right-most address in the header that is not itself
/// a trusted proxy (everything left of it could have been written by the client).
/// </summary>
public sealed class ClientAddress
{
    private readonly HashSet<IPAddress> _trustedProxies;

    public ClientAddress(IEnumerable<string> trustedProxies)
    {
        ArgumentNullException.ThrowIfNull(trustedProxies);
        _trustedProxies = new HashSet<IPAddress>();
        foreach (string proxy in trustedProxies)
        {
            _trustedProxies.Add(Normalize(IPAddress.Parse(proxy)));
        }
    }

    public IPAddress Resolve(IPAddress? peer, string? forwardedFor)
    {
        IPAddress client = Normalize(peer ?? IPAddress.None);
        if (forwardedFor is null || !_trustedProxies.Contains(client))
        {
            return client;
        }

        string[] hops = forwardedFor.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (int i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out IPAddress? hop))
            {
                // A garbled entry: stop believing the header here and blame the last hop we trust.
                return client;
            }

            client = Normalize(hop);
            if (!_trustedProxies.Contains(client))
            {
                return client;
            }
        }

        return client;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
