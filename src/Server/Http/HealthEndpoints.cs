using System.Text;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FastWs.Server.Http;

/// <summary>
/// <c>GET /healthz</c> (the process is alive: the checks tagged <see cref="ServerHealthChecks.Live"/>) and
/// <c>GET /readyz</c> (warmed up, accepting, not shutting down: those tagged <see cref="ServerHealthChecks.Ready"/>),
/// as ASP.NET Core health check endpoints. The answer is plain text: <c>ok</c> / <c>ready</c>, or, with 503, what
/// the unhealthy checks say (<c>warming up</c>, <c>shutting down</c>), one line.
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz", Options(ServerHealthChecks.Live, "ok"));
        endpoints.MapHealthChecks("/readyz", Options(ServerHealthChecks.Ready, "ready"));
    }

    /// <summary>The content type of both answers (also on the WebSocket port, see <see cref="WebSocketPortRequests"/>).</summary>
    internal const string ContentType = "text/plain; charset=utf-8";

    /// <summary>What <c>/healthz</c> answers, from the health checks (also for the WebSocket port).</summary>
    internal static Task<(int Status, string Text)> LivenessAsync(HealthCheckService health) => EvaluateAsync(health, ServerHealthChecks.Live, "ok");

    /// <summary>What <c>/readyz</c> answers: 503 while the start-up warm-up runs and once shutdown begins.</summary>
    internal static Task<(int Status, string Text)> ReadinessAsync(HealthCheckService health) => EvaluateAsync(health, ServerHealthChecks.Ready, "ready");

    private static HealthCheckOptions Options(string tag, string healthyText) => new()
    {
        Predicate = registration => registration.Tags.Contains(tag),
        ResponseWriter = (context, report) =>
        {
            context.Response.ContentType = ContentType;
            return context.Response.WriteAsync(Text(report, healthyText), Encoding.UTF8);
        },
    };

    private static async Task<(int Status, string Text)> EvaluateAsync(HealthCheckService health, string tag, string healthyText)
    {
        HealthReport report = await health.CheckHealthAsync(registration => registration.Tags.Contains(tag)).ConfigureAwait(false);
        int status = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        return (status, Text(report, healthyText));
    }

    /// <summary>Healthy or degraded: the healthy text; unhealthy: the unhealthy checks' descriptions in registration order.</summary>
    private static string Text(HealthReport report, string healthyText)
    {
        if (report.Status != HealthStatus.Unhealthy)
        {
            return healthyText + "\n";
        }

        IEnumerable<string> problems = report.Entries
            .Where(entry => entry.Value.Status == HealthStatus.Unhealthy)
            .Select(entry => entry.Value.Description ?? entry.Key + " unhealthy");
        return string.Join("; ", problems) + "\n";
    }
}
