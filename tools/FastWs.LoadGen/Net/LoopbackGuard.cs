using System.Net;

namespace FastWs.LoadGen.Net;

/// <summary>
/// This workplace forbids load against any host but this one: every URL the tool is given must name
/// 127.0.0.0/8, ::1 or "localhost". Names are never resolved through DNS; "localhost" maps to 127.0.0.1.
/// </summary>
internal static class LoopbackGuard
{
    /// <summary>Parses <paramref name="url"/> and checks its scheme and host. Returns an error message, or null when it may be used.</summary>
    public static string? Check(string url, ReadOnlySpan<string> schemes, out Uri? uri, out IPAddress? address)
    {
        address = null;
        if (!Uri.TryCreate(url, UriKind.Absolute, out uri))
        {
            return $"'{url}' is not an absolute URL";
        }

        bool schemeOk = false;
        foreach (string scheme in schemes)
        {
            schemeOk |= string.Equals(uri.Scheme, scheme, StringComparison.OrdinalIgnoreCase);
        }

        if (!schemeOk)
        {
            return $"'{url}': scheme must be {string.Join(" or ", schemes.ToArray())}";
        }

        string host = uri.DnsSafeHost;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
            return null;
        }

        if (IPAddress.TryParse(host, out IPAddress? parsed))
        {
            IPAddress check = parsed.IsIPv4MappedToIPv6 ? parsed.MapToIPv4() : parsed;
            if (IPAddress.IsLoopback(check))
            {
                address = parsed;
                return null;
            }
        }

        return $"refusing '{url}': the load tool only targets loopback (127.0.0.0/8, ::1 or localhost); load against other hosts is forbidden here";
    }
}
