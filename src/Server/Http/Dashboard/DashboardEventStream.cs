using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// <c>GET /api/dashboard/events</c> once the caller is allowed: a <c>text/event-stream</c> that opens with the
/// history and the status now, then carries one <c>tick</c> event a second until the client goes, the server stops,
/// or the viewer falls too far behind (<see cref="DashboardViewer"/>).
/// </summary>
internal sealed class DashboardEventStream(DashboardFeed feed, CancellationToken stopping) : IResult
{
    public const string ContentType = "text/event-stream";

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        using DashboardViewer? viewer = feed.Join();
        if (viewer is null)
        {
            await ApiAccess.Error($"At most {DashboardFeed.MaxViewers} dashboards may be open at once", StatusCodes.Status503ServiceUnavailable)
                .ExecuteAsync(httpContext).ConfigureAwait(false);
            return;
        }

        HttpResponse response = httpContext.Response;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-cache";
        // Each event goes out as it is written, not when a response buffer fills (proxies: X-Accel-Buffering).
        response.Headers["X-Accel-Buffering"] = "no";
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var end = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, stopping, viewer.Dropped);
        try
        {
            await response.Body.WriteAsync(viewer.Backlog, end.Token).ConfigureAwait(false);
            await response.Body.FlushAsync(end.Token).ConfigureAwait(false);
            await foreach (byte[] tick in viewer.Events.ReadAllAsync(end.Token).ConfigureAwait(false))
            {
                await response.Body.WriteAsync(tick, end.Token).ConfigureAwait(false);
                await response.Body.FlushAsync(end.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went, the server is stopping, or the viewer was dropped.
        }

        if (viewer.WasDropped)
        {
            // A write may have been cut off mid-event: end the connection rather than the response, so the client
            // does not take a partial event for a whole one, and its unread bytes are not kept for it.
            httpContext.Abort();
        }
    }
}
