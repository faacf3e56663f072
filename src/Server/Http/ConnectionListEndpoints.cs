using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary>
/// <c>GET /api/connections</c> (a page of the open connections, filtered; see <see cref="ConnectionQuery"/>) and
/// <c>GET /api/connections/{id}</c> (one, or 404), as <see cref="ConnectionView"/>s. The same callers as for sending
/// to and closing connections (<see cref="ApiAccess.RefuseUnlessOperatorAsync"/>) and the same Origin rule; no work
/// on any hot path: each request walks the registry the way the supervisor does.
/// </summary>
internal static class ConnectionListEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/connections", ListAsync);
        endpoints.MapGet("/api/connections/{id}", GetAsync);
    }

    /// <summary>The answer of <c>GET /api/connections</c>: <paramref name="Total"/> connections match the filters, this is the page from <paramref name="Offset"/>.</summary>
    internal sealed record ConnectionPage(int Total, int Offset, int Limit, IReadOnlyList<ConnectionView> Connections);

    private static async Task<IResult> ListAsync(HttpContext context, ServerState state)
    {
        if (await RefuseAsync(context, state).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        if (ConnectionQuery.Parse(context.Request.Query, out string? problem) is not { } query)
        {
            return ApiAccess.Error(problem!, StatusCodes.Status400BadRequest);
        }

        // Oldest first, by the connection's sequence number: a page stays put while connections come and go after it.
        var matches = new List<(long Order, WebSocketConnection Connection, string Id)>();
        var names = new List<string>();
        foreach (WebSocketConnection connection in state.Connections.All)
        {
            if (connection.ConnectionId is { } id && Matches(connection, query, names))
            {
                matches.Add((connection.Id, connection, id));
            }
        }

        matches.Sort((a, b) => a.Order.CompareTo(b.Order));
        var page = new List<ConnectionView>(Math.Max(0, Math.Min(query.Limit, matches.Count - query.Offset)));
        for (int i = query.Offset; i < matches.Count && page.Count < query.Limit; i++)
        {
            page.Add(ConnectionView.Of(matches[i].Connection, matches[i].Id, state.Options));
        }

        return Results.Json(new ConnectionPage(matches.Count, query.Offset, query.Limit, page));
    }

    private static async Task<IResult> GetAsync(string id, HttpContext context, ServerState state)
    {
        if (await RefuseAsync(context, state).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        return state.Connections.Find(id) is { } connection && connection.ConnectionId is { } current
            ? Results.Json(ConnectionView.Of(connection, current, state.Options))
            : ApiAccess.Error("No connection with this id", StatusCodes.Status404NotFound);
    }

    /// <summary>Origin first (a foreign page gets 403 whoever it is), then who is asking.</summary>
    internal static async Task<IResult?> RefuseAsync(HttpContext context, ServerState state) =>
        ApiAccess.RefuseForeignOrigin(context, state)
        ?? await ApiAccess.RefuseUnlessOperatorAsync(context, state, "Watching connections").ConfigureAwait(false);

    private static bool Matches(WebSocketConnection connection, ConnectionQuery query, List<string> names)
    {
        if (query.User is { } user && connection.User?.Id.Contains(user, StringComparison.OrdinalIgnoreCase) != true)
        {
            return false;
        }

        if (query.Ip is { } ip && !connection.ClientIp.ToString().Contains(ip, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (query.Channel is not { } channel)
        {
            return true;
        }

        names.Clear();
        connection.SubscriptionsIfAny?.CopyNamesTo(names);
        return names.Exists(name => name.Contains(channel, StringComparison.OrdinalIgnoreCase));
    }
}
