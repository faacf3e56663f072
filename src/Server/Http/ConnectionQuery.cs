using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace FastWs.Server.Http;

/// <summary>
/// The query of <c>GET /api/connections</c>: filters (<c>user</c>, <c>ip</c>, <c>channel</c>, each kept when the
/// connection's value contains the text, ignoring case) and a page (<c>offset</c> or 1-based <c>page</c>, and
/// <c>limit</c>). Anything malformed is refused with a message, never guessed at.
/// </summary>
internal sealed record ConnectionQuery(string? User, string? Ip, string? Channel, int Offset, int Limit)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 1000;

    /// <summary>Longer filter texts are refused: no user id, address or channel name is that long.</summary>
    public const int MaxFilterLength = 256;

    /// <summary>The query, or the problem with it (for a 400).</summary>
    public static ConnectionQuery? Parse(IQueryCollection query, out string? problem)
    {
        problem = null;
        if (!TryNumber(query, "limit", 1, MaxLimit, DefaultLimit, ref problem, out int limit)
            || !TryNumber(query, "offset", 0, int.MaxValue, 0, ref problem, out int offset)
            || !TryNumber(query, "page", 1, int.MaxValue, 1, ref problem, out int page)
            || !TryFilter(query, "user", ref problem, out string? user)
            || !TryFilter(query, "ip", ref problem, out string? ip)
            || !TryFilter(query, "channel", ref problem, out string? channel))
        {
            return null;
        }

        if (query.ContainsKey("page"))
        {
            if (query.ContainsKey("offset"))
            {
                problem = "Give either 'offset' or 'page', not both";
                return null;
            }

            long first = (long)(page - 1) * limit;
            if (first > int.MaxValue)
            {
                problem = "'page' is too large";
                return null;
            }

            offset = (int)first;
        }

        return new ConnectionQuery(user, ip, channel, offset, limit);
    }

    private static bool TryNumber(IQueryCollection query, string name, int min, int max, int fallback, ref string? problem, out int value)
    {
        value = fallback;
        if (!query.TryGetValue(name, out var raw))
        {
            return true;
        }

        if (raw.Count == 1 && int.TryParse(raw[0], NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
        {
            return true;
        }

        problem = max == int.MaxValue
            ? $"'{name}' must be one whole number, at least {min}"
            : $"'{name}' must be one whole number from {min} to {max}";
        return false;
    }

    private static bool TryFilter(IQueryCollection query, string name, ref string? problem, out string? value)
    {
        value = null;
        if (!query.TryGetValue(name, out var raw))
        {
            return true;
        }

        if (raw.Count != 1 || raw[0] is not { } text || text.Length > MaxFilterLength)
        {
            problem = $"'{name}' must be given once, at most {MaxFilterLength} characters";
            return false;
        }

        value = text.Length == 0 ? null : text;
        return true;
    }
}
