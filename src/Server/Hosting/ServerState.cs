using FastWs.Server.Auth;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Limits;
using FastWs.Server.Metrics;
using FastWs.Server.Publishing;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Hosting;

/// <summary>The shared state of one running server: what every connection and endpoint works against.</summary>
public sealed class ServerState : IAsyncDisposable
{
    /// <param name="time">The clock conflation runs on (tests pass a fake one); the system clock by default.</param>
    /// <param name="meterFactory">
    /// Creates the <c>FastWs</c> meter: the host's (<see cref="FastWsServer"/> passes its container's); without one the
    /// state makes a factory of its own and disposes it with itself.
    /// </param>
    public ServerState(FastWsOptions options, TimeProvider? time = null, IMeterFactory? meterFactory = null, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        if (meterFactory is null)
        {
            _ownMeterFactory = new StandaloneMeterFactory();
            meterFactory = _ownMeterFactory;
        }

        // First: the fan-out shards record into its histograms.
        Meter = new FastWsMeter(this, meterFactory);
        Namespaces = new NamespaceCatalog(options.Namespaces);
        int shards = options.FanOutShards > 0 ? options.FanOutShards : Environment.ProcessorCount;
        Channels = new ChannelRegistry(shards);
        Broker.IBrokerEngine? broker = options.Broker.Kind == Broker.BrokerKind.Redis ? Broker.RedisEngine.Connect(options.Broker, loggers?.CreateLogger("FastWs.Broker")) : null;
        Publisher = new MessagePublisher(Channels, Namespaces, Metrics, options.FanOutQueueCapacity, options.FanOutInlineDeliveryBudget, time,
            Meter.Histograms, broker, options.Broker);
        ConnectionLimiter = new ConnectionLimiter(options.Limits.MaxConnections, options.Limits.MaxConnectionsPerIp);
        KeyGroups = new KeyGroupCounter(options.Limits.MaxSubscribersPerKeyGroup);
        ClientAddress = new ClientAddress(options.Limits.TrustedProxies);
        Auth = new Authenticator(options.Auth, options.AllowedOrigins, options.RequireOrigin);
        ConnectionControl = new ConnectionControl(Connections);
        Events = new TypedPublisher(Publisher);
        Dashboard = new Http.Dashboard.DashboardFeed(this);
    }

    /// <summary>The dashboard's five minutes of per-second samples and its viewers (sampled by the supervisor's tick).</summary>
    internal Http.Dashboard.DashboardFeed Dashboard { get; }

    /// <summary>Typed events (prices, trades, funding, intent updates, market data, alerts, direct messages) through <see cref="Publisher"/>.</summary>
    public TypedPublisher Events { get; }

    /// <summary>Sending to and closing single connections by id.</summary>
    public ConnectionControl ConnectionControl { get; }

    /// <summary>Token validation and the Origin policy.</summary>
    public Authenticator Auth { get; }

    public FastWsOptions Options { get; }

    /// <summary>The transport the WebSocket endpoint runs on (set when the server is built; Epoll falls back to Sockets where it cannot run).</summary>
    public TransportEngine Transport { get; internal set; } = TransportEngine.Sockets;

    public NamespaceCatalog Namespaces { get; }

    public ChannelRegistry Channels { get; }

    public ConnectionRegistry Connections { get; } = new();

    public ServerMetrics Metrics { get; } = new();

    public MessagePublisher Publisher { get; }

    public ConnectionLimiter ConnectionLimiter { get; }

    /// <summary>Connections per channel key group, with the per-group subscriber limit.</summary>
    public KeyGroupCounter KeyGroups { get; }

    public ClientAddress ClientAddress { get; }

    /// <summary>Connections still in the HTTP upgrade, with when they started (for the handshake timeout).</summary>
    public PendingHandshakes PendingHandshakes { get; } = new();

    /// <summary>Set when shutdown begins: no new connections are served and no new messages accepted.</summary>
    public bool IsShuttingDown { get; private set; }

    private readonly TaskCompletionSource _warm = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>True once the start-up warm-up connection is done (or was switched off): <c>/readyz</c> waits for it.</summary>
    public bool IsWarm => _warm.Task.IsCompleted;

    /// <summary>Completes when <see cref="IsWarm"/> becomes true.</summary>
    public Task WhenWarm => _warm.Task;

    internal void MarkWarm() => _warm.TrySetResult();

    internal void BeginShutdown()
    {
        IsShuttingDown = true;
        Publisher.Stop();
    }

    /// <summary>Per-connection log events (closes and refusals the server decides), rate-limited; nothing until the host's logging is attached.</summary>
    public ServerEvents Log { get; internal set; } = ServerEvents.None;

    /// <summary>The counters as a System.Diagnostics.Metrics meter named "FastWs".</summary>
    public FastWsMeter Meter { get; }

    private readonly StandaloneMeterFactory? _ownMeterFactory;
    private int _disposed;

    /// <summary>Idempotent: the host's container and <see cref="FastWsServer.DisposeAsync"/> may both dispose it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Meter.Dispose();
        _ownMeterFactory?.Dispose();
        await Publisher.DisposeAsync().ConfigureAwait(false);
    }
}
