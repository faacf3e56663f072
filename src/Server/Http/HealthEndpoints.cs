using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary><c>GET /healthz</c> (the process is alive) and <c>GET /readyz</c> (warmed up, accepting, not shutting down).</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/healthz", () =>
        {
            (int status, string text) = Liveness();
            return Results.Text(text, ContentType, statusCode: status);
        });
        endpoints.MapGet("/readyz", (ServerState state) =>
        {
            (int status, string text) = Readiness(state);
            return Results.Text(text, ContentType, statusCode: status);
        });
    }

    /// <summary>The content type of both answers (also on the WebSocket port, see <see cref="WebSocketPortRequests"/>).</summary>
    internal const string ContentType = "text/plain; charset=utf-8";

    /// <summary>What <c>/healthz</c> answers: the process is alive.</summary>
    internal static (int Status, string Text) Liveness() => (StatusCodes.Status200OK, "ok\n");

    /// <summary>What <c>/readyz</c> answers: 503 while the start-up warm-up runs and once shutdown begins.</summary>
    internal static (int Status, string Text) Readiness(ServerState state) =>
        state.IsShuttingDown ? (StatusCodes.Status503ServiceUnavailable, "shutting down\n")
        : !state.IsWarm ? (StatusCodes.Status503ServiceUnavailable, "warming up\n")
        : (StatusCodes.Status200OK, "ready\n");
}
