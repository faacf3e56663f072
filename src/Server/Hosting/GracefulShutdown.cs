using FastWs.Protocol.Frames;
using FastWs.Server.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Hosting;

/// <summary>
/// On SIGTERM or Ctrl+C (host stop): refuse new connections and publishes, deliver what was already accepted,
/// send close 1001 to every client, wait up to the close timeout for their replies, then drop the rest.
/// It does this in <see cref="StoppingAsync"/>, which the host runs before stopping any hosted service: WebApplication
/// registers Kestrel's hosted service last, so Kestrel stops first, and a plain StopAsync here would only run after
/// Kestrel had waited out its shutdown timeout and reset every WebSocket connection.
/// </summary>
internal sealed class GracefulShutdown : IHostedLifecycleService
{
    private readonly ServerState _state;
    private readonly ILogger<GracefulShutdown> _logger;

    public GracefulShutdown(ServerState state, ILogger<GracefulShutdown> logger)
    {
        _state = state;
        _logger = logger;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _state.BeginShutdown();
        ServerLog.ShutdownBegun(_logger, _state.Connections.Count);
        await _state.Publisher.DrainAsync().ConfigureAwait(false);

        foreach (WebSocketConnection connection in _state.Connections.All)
        {
            connection.TrySendClose(CloseCode.GoingAway, "Server is shutting down");
        }

        DateTime deadline = DateTime.UtcNow + _state.Options.CloseTimeout;
        while (_state.Connections.Count > 0 && DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        }

        int unanswered = 0;
        foreach (WebSocketConnection connection in _state.Connections.All)
        {
            connection.Abort("Server shut down");
            unanswered++;
        }

        ServerLog.ShutdownDone(_logger, unanswered);
    }
}
