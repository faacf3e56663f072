using System.Reflection;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// <c>GET /</c>: the dashboard, one static page embedded in this assembly (no build step, nothing fetched from
/// elsewhere: the machine may have no internet); <c>GET /api/dashboard/events</c>: its data as server-sent events.
/// </summary>
/// <remarks>
/// The page itself holds no data, so it is served to anyone; everything it shows comes from the event stream and
/// <c>/api/connections</c>, which are guarded like the connections API: a caller on this host, or a bearer token with
/// the <c>FastWs:Api:ConnectionsRole</c> role (the page asks for one when the stream answers 401 or 403, and sends it
/// in the Authorization header, never in a URL).
/// </remarks>
internal static class DashboardEndpoints
{
    public const string EventsPath = "/api/dashboard/events";

    private const string PageResource = "FastWs.Server.Dashboard.html";

    /// <summary>
    /// Inline script and style only, and requests to this server only: the page cannot load or send anything
    /// elsewhere, and cannot be framed.
    /// </summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<byte[]> s_page = new(LoadPage);

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", ServePage);
        endpoints.MapGet(EventsPath, EventsAsync);
    }

    private static IResult ServePage(HttpContext context)
    {
        context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(s_page.Value, "text/html; charset=utf-8");
    }

    private static async Task<IResult> EventsAsync(HttpContext context, ServerState state)
    {
        if (await ConnectionListEndpoints.RefuseAsync(context, state).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        CancellationToken stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        return new DashboardEventStream(state.Dashboard, stopping);
    }

    private static byte[] LoadPage()
    {
        using Stream page = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream(PageResource)
            ?? throw new InvalidOperationException($"The dashboard page ({PageResource}) is not embedded in {typeof(DashboardEndpoints).Assembly.GetName().Name}");
        using var copy = new MemoryStream();
        page.CopyTo(copy);
        return copy.ToArray();
    }
}
