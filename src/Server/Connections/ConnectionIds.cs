using System.Globalization;

namespace FastWs.Server.Connections;

/// <summary>
/// The connection ids told to clients (<c>{"type":"connected","connectionId":"17-3"}</c>): the connection's
/// <see cref="WebSocketConnection.Id"/> (a counter, unique per server process) and its slot in the
/// <see cref="ConnectionRegistry"/>, in decimal, joined by a dash. The slot makes a lookup by id one array read, so
/// an idle connection carries nothing extra for it; the counter tells a connection from a later one in the same slot.
/// </summary>
public static class ConnectionIds
{
    public static string Format(long id, int slot) => string.Create(CultureInfo.InvariantCulture, $"{id}-{slot}");

    public static bool TryParse(ReadOnlySpan<char> text, out long id, out int slot)
    {
        id = 0;
        slot = -1;
        int dash = text.IndexOf('-');
        return dash > 0
            && long.TryParse(text[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && int.TryParse(text[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out slot);
    }
}
