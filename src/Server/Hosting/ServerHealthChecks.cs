using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FastWs.Server.Hosting;

/// <summary>
/// The health checks behind <c>/healthz</c> and <c>/readyz</c> (ASP.NET Core health checks, on both ports). A check
/// tagged <see cref="Ready"/> decides readiness, one tagged <see cref="Live"/> liveness. Adding one is one line in
/// <see cref="AddFastWsHealthChecks"/>, e.g. <c>.AddCheck&lt;BrokerHealthCheck&gt;("broker", tags: [Ready])</c>.
/// </summary>
public static class ServerHealthChecks
{
    /// <summary>Tag of the checks <c>/readyz</c> runs: while one is unhealthy the server gets no new clients.</summary>
    public const string Ready = "ready";

    /// <summary>Tag of the checks <c>/healthz</c> runs: while one is unhealthy the process should be restarted. None yet.</summary>
    public const string Live = "live";

    /// <summary>Registers the health checks: shutdown first (its answer comes first), then the start-up warm-up.</summary>
    public static IHealthChecksBuilder AddFastWsHealthChecks(this IServiceCollection services) =>
        services.AddHealthChecks()
            .AddCheck<ShutdownHealthCheck>("shutdown", tags: [Ready])
            .AddCheck<WarmUpHealthCheck>("warm-up", tags: [Ready])
            .AddCheck<BrokerHealthCheck>("broker", tags: [Ready]);
}

/// <summary>Unhealthy ("warming up") until the start-up warm-up connection is done (see <see cref="StartupWarmUp"/>).</summary>
public sealed class WarmUpHealthCheck(ServerState state) : IHealthCheck
{
    private static readonly Task<HealthCheckResult> Warm = Task.FromResult(HealthCheckResult.Healthy("warm"));
    private static readonly Task<HealthCheckResult> Cold = Task.FromResult(HealthCheckResult.Unhealthy("warming up"));

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        state.IsWarm ? Warm : Cold;
}

/// <summary>Unhealthy ("shutting down") once graceful shutdown has begun (see <see cref="GracefulShutdown"/>).</summary>
public sealed class ShutdownHealthCheck(ServerState state) : IHealthCheck
{
    private static readonly Task<HealthCheckResult> Running = Task.FromResult(HealthCheckResult.Healthy("accepting"));
    private static readonly Task<HealthCheckResult> Stopping = Task.FromResult(HealthCheckResult.Unhealthy("shutting down"));

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        state.IsShuttingDown ? Stopping : Running;
}

/// <summary>
/// Several nodes: unhealthy ("broker unreachable") while the node is cut off from Redis, so a load balancer sends new
/// clients to nodes that can publish and follow channels; healthy without a broker.
/// </summary>
public sealed class BrokerHealthCheck(ServerState state) : IHealthCheck
{
    private static readonly Task<HealthCheckResult> None = Task.FromResult(HealthCheckResult.Healthy("single node"));
    private static readonly Task<HealthCheckResult> Connected = Task.FromResult(HealthCheckResult.Healthy("broker connected"));
    private static readonly Task<HealthCheckResult> Unreachable = Task.FromResult(HealthCheckResult.Unhealthy("broker unreachable"));

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        state.Publisher.Broker is not { } broker ? None : broker.IsConnected ? Connected : Unreachable;
}
