using System.Diagnostics.Metrics;
using System.Net;
using FastWs.Server.Connections;
using FastWs.Server.Demo;
using FastWs.Server.FanOut;
using FastWs.Server.Http;
using FastWs.Server.Publishing;
using FastWs.Server.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace FastWs.Server.Hosting;

/// <summary>
/// Builds and runs FastWs on Kestrel: the WebSocket endpoint (a raw <see cref="WebSocketConnectionHandler"/>)
/// and the HTTP endpoint (publish API, health) on the normal ASP.NET Core pipeline. Hosts that embed the
/// server and tests use this class; Program.cs is a thin wrapper over it.
/// </summary>
public sealed class FastWsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions _webSocketListen;
    private readonly ListenOptions _httpListen;

    private FastWsServer(WebApplication app, ServerState state, ListenOptions webSocketListen, ListenOptions httpListen)
    {
        _app = app;
        State = state;
        _webSocketListen = webSocketListen;
        _httpListen = httpListen;
    }

    public ServerState State { get; }

    /// <summary>
    /// The transport the WebSocket endpoint actually runs on: Epoll falls back to Sockets where it cannot run, and
    /// whenever the endpoint has TLS.
    /// </summary>
    public TransportEngine Transport => State.Transport;

    /// <summary>The in-process publish API.</summary>
    public MessagePublisher Publisher => State.Publisher;

    /// <summary>The in-process API to send to or close one connection by its id.</summary>
    public ConnectionControl Connections => State.ConnectionControl;

    /// <summary>Typed events: <c>server.Events.PublishPriceAsync("SOL", ...)</c> and the rest (see <see cref="TypedPublisher"/>).</summary>
    public TypedPublisher Events => State.Events;

    /// <summary>The bound WebSocket endpoint (the real port when 0 was configured); valid after start.</summary>
    public IPEndPoint WebSocketEndPoint => _webSocketListen.IPEndPoint!;

    public IPEndPoint HttpEndPoint => _httpListen.IPEndPoint!;

    public Uri WebSocketUri => new($"{(State.Options.WebSocket.Tls.Enabled ? "wss" : "ws")}://{Format(WebSocketEndPoint)}{State.Options.Path}");

    public Uri HttpUri => new($"{(State.Options.Http.Tls.Enabled ? "https" : "http")}://{Format(HttpEndPoint)}");

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Creates the server from command-line arguments and the usual configuration sources; <paramref name="configure"/>
    /// runs last and wins. Does not start it.
    /// </summary>
    /// <exception cref="OptionsValidationException">A setting is invalid (the message names it; see <see cref="FastWsOptionsValidator"/>).</exception>
    /// <exception cref="TlsCertificateException">A TLS certificate file cannot be used (a wrong password, a key of another certificate, ...).</exception>
    /// <param name="configureLogging">Runs on the host's logging builder after the configuration's own settings (tests add a capturing provider).</param>
    /// <param name="time">The clock for conflation; tests pass a fake one. The system clock by default.</param>
    public static FastWsServer Create(string[] args, Action<FastWsOptions>? configure = null, Action<ILoggingBuilder>? configureLogging = null,
        TimeProvider? time = null)
    {
        // Content root is the binary's folder, so appsettings*.json are found wherever the server is started from.
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        // Bound, changed by configure and validated (FastWsOptionsValidator) before anything else: a bad setting stops
        // here with one message naming it.
        FastWsOptions options = FastWsOptionsSetup.Load(builder.Configuration, configure);

        // Certificates first: a missing file or a wrong password stops here, before anything is built or bound.
        CertificateSource? webSocketTls = options.WebSocket.Tls.Enabled ? CertificateSource.Load(options.WebSocket.Tls, SectionName("WebSocket")) : null;
        CertificateSource? httpTls = options.Http.Tls.Enabled ? CertificateSource.Load(options.Http.Tls, SectionName("Http")) : null;

        // The state is made by the container, so that its FastWs meter comes from the host's IMeterFactory (the
        // container then owns the meter, and listeners tell this server's meter from another's by its scope).
        builder.Services.AddMetrics();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<IOptions<FastWsOptions>>(Microsoft.Extensions.Options.Options.Create(options));
        builder.Services.AddSingleton(services => new ServerState(options, time, services.GetRequiredService<IMeterFactory>(), services.GetRequiredService<ILoggerFactory>()));
        AddTelemetry(builder.Services, options.Telemetry);
        builder.Services.AddFastWsHealthChecks();
        builder.Services.AddProblemDetails();
        builder.Services.AddHostedService<ConnectionSupervisor>();
        builder.Services.AddHostedService<GracefulShutdown>();
        builder.Services.AddHostedService<IdleMemoryTrim>();
        if (options.Demo)
        {
            builder.Services.AddHostedService<DemoFeed>();
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);
        int kernelSendBufferBytes = options.SlowConsumer.SocketSendBufferBytes;
        builder.WebHost.UseSockets(sockets =>
        {
            // With Transport.DirectSends off, the transport pipe pauses writers at this many unsent bytes: that is the
            // slow-consumer limit then (SocketOutput counts its own backlog against the same number).
            sockets.MaxWriteBufferSize = options.SlowConsumer.MaxBufferedBytes;
            sockets.UnsafePreferInlineScheduling = options.Transport.InlineScheduling;
            if (kernelSendBufferBytes > 0)
            {
                // Accepted sockets inherit SO_SNDBUF from the listener. Capping it bounds the kernel memory a stalled
                // client can pin (autotuning grows it to megabytes) and lets the 64 KB rule see a stall sooner.
                sockets.CreateBoundListenSocket = endpoint =>
                {
                    Socket socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                    socket.SendBufferSize = kernelSendBufferBytes;
                    return socket;
                };
            }
        });

        // The WebSocket endpoint on FastWs's epoll transport where it can run; the HTTP endpoint always on Kestrel's.
        // TLS needs Kestrel's: its TLS is a connection middleware that encrypts what goes through the transport pipe,
        // and the epoll transport has no pipe for frames (direct sends write plaintext to the socket). state.Transport
        // (set once the container has made the state) is what actually runs, whatever was configured.
        bool epoll = options.Transport.Engine == TransportEngine.Epoll && options.Transport.DirectSends && EpollTransportFactory.IsSupported
            && webSocketTls is null;
        if (epoll)
        {
            // Made by the container (not handed to it) so that the container disposes it, stopping its epoll threads.
            builder.Services.AddSingleton<IConnectionListenerFactory>(services => new EpollTransportFactory(
                options.Transport.EffectiveIoThreads, kernelSendBufferBytes, options.Transport.EffectiveDeferAcceptSeconds,
                new ServerEvents(services.GetRequiredService<ILoggerFactory>().CreateLogger("FastWs.Transport"))));
        }

        IPEndPoint webSocketEndPoint = options.WebSocket.ToEndPoint();
        ListenOptions? webSocketListen = null, httpListen = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(epoll ? new EpollEndPoint(webSocketEndPoint) : webSocketEndPoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (webSocketTls is not null)
                {
                    // Before the handler: connection middleware runs in the order added, and the handler reads
                    // and writes the decrypted pipe the TLS middleware puts in place of the transport's.
                    listen.UseHttps(TlsOptionsFor(webSocketTls, options.HandshakeTimeout));
                }

                listen.UseConnectionHandler<WebSocketConnectionHandler>();
                webSocketListen = listen;
            });
            kestrel.Listen(options.Http.ToEndPoint(), listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (httpTls is not null)
                {
                    listen.UseHttps(TlsOptionsFor(httpTls, handshakeTimeout: null));
                }

                httpListen = listen;
            });
        });

        WebApplication app = builder.Build();
        ServerState state = app.Services.GetRequiredService<ServerState>();
        state.Transport = epoll ? TransportEngine.Epoll : TransportEngine.Sockets;
        ILoggerFactory loggers = app.Services.GetRequiredService<ILoggerFactory>();
        state.Auth.AttachLogger(loggers.CreateLogger("FastWs.Auth"));
        state.Log = new ServerEvents(loggers.CreateLogger("FastWs.Connections"));
        state.ConnectionControl.Log = state.Log;
        // The HTTP endpoint's errors as RFC 7807 problem details: an exception escaping an endpoint is a 500 with a
        // problem body (the exception is logged, never shown), and a framework error without a body (a 404, a 405, a
        // request that does not bind) gets one too. The WebSocket endpoint does not go through this pipeline.
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        PublishEndpoint.Map(app);
        ConnectionEndpoints.Map(app);
        ConnectionListEndpoints.Map(app);
        Http.Dashboard.DashboardEndpoints.Map(app);
        HealthEndpoints.Map(app);
        StatsEndpoints.Map(app);
        // GET /metrics: the FastWs meter in Prometheus text (or OpenMetrics, when the scraper asks for it), written by
        // OpenTelemetry's Prometheus exporter from the same instruments dotnet-counters and OTLP see.
        app.MapPrometheusScrapingEndpoint(StatsEndpoints.MetricsPath);

        // ConfigureKestrel's callback runs when the server options are first resolved; force that now.
        _ = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<KestrelServerOptions>>().Value;
        var server = new FastWsServer(app, state, webSocketListen!, httpListen!);
        ILogger tlsLogger = app.Services.GetRequiredService<ILogger<CertificateSource>>();
        foreach ((CertificateSource? source, string endpoint) in new[] { (webSocketTls, "WebSocket"), (httpTls, "Http") })
        {
            if (source is not null)
            {
                source.Logger = tlsLogger;
                ServerLog.TlsCertificateInUse(tlsLogger, endpoint, source.Describe());
            }
        }

        ILogger serverLogger = loggers.CreateLogger("FastWs.Server");
        app.Lifetime.ApplicationStarted.Register(() => ServerLog.Started(serverLogger, server.WebSocketUri, state.Transport, server.HttpUri));
        if (options.WarmUp)
        {
            var warmUp = new StartupWarmUp(state, app.Services.GetRequiredService<ILogger<StartupWarmUp>>(), webSocketTls);
            app.Lifetime.ApplicationStarted.Register(() => _ = warmUp.RunAsync(server.WebSocketEndPoint, app.Lifetime.ApplicationStopping));
        }
        else
        {
            state.MarkWarm();
        }

        return server;
    }

    /// <summary>Creates and starts a server; returns once both endpoints are listening and the warm-up connection (if on) is done.</summary>
    public static async Task<FastWsServer> StartAsync(string[] args, Action<FastWsOptions>? configure = null, CancellationToken cancellationToken = default,
        Action<ILoggingBuilder>? configureLogging = null, TimeProvider? time = null)
    {
        FastWsServer server = Create(args, configure, configureLogging, time);
        await server._app.StartAsync(cancellationToken).ConfigureAwait(false);
        await server.State.WhenWarm.WaitAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Runs until the process is told to stop (Ctrl+C or SIGTERM), then shuts down gracefully.</summary>
    public Task RunAsync() => _app.RunAsync();

    /// <summary>Graceful shutdown: see <see cref="GracefulShutdown"/>.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
        await State.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// OpenTelemetry's metrics SDK over the FastWs meter: the Prometheus exporter behind <c>/metrics</c> always, the OTLP
    /// exporter when <see cref="TelemetryOptions.OtlpEndpoint"/> is set. Both read the observable counters (the server's
    /// lock-free <see cref="Metrics.ServerMetrics"/>) only when they collect, and aggregate the histograms the server records.
    /// </summary>
    private static void AddTelemetry(IServiceCollection services, TelemetryOptions telemetry)
    {
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(telemetry.ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Metrics.FastWsMeter.MeterName);
                metrics.AddPrometheusExporter();
                if (telemetry.OtlpEnabled)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        exporter.Protocol = telemetry.OtlpProtocol == OtlpTransport.HttpProtobuf ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                        exporter.Endpoint = OtlpEndpoint(telemetry);
                        exporter.TimeoutMilliseconds = (int)telemetry.ExportTimeout.TotalMilliseconds;
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.ExportInterval.TotalMilliseconds;
                        reader.PeriodicExportingMetricReaderOptions.ExportTimeoutMilliseconds = (int)telemetry.ExportTimeout.TotalMilliseconds;
                    });
                }
            });

        // Only this server's meter: every server in a process has one named FastWs (an embedding host may run several,
        // the tests do), and the SDK subscribes by name. Ours is the one made by this container's IMeterFactory; the
        // others' instruments are dropped, so this provider does not even enable them.
        services.ConfigureOpenTelemetryMeterProvider((provider, metrics) =>
        {
            IMeterFactory own = provider.GetRequiredService<IMeterFactory>();
            metrics.AddView(instrument => ReferenceEquals(instrument.Meter.Scope, own) ? null : MetricStreamConfiguration.Drop);
        });
    }

    /// <summary>
    /// The configured endpoint; over HTTP, a base address (<c>http://collector:4318</c>) gets the metrics path
    /// <c>/v1/metrics</c>, as the exporter does for its environment variables but not for an address set in code.
    /// </summary>
    internal static Uri OtlpEndpoint(TelemetryOptions telemetry)
    {
        var endpoint = new Uri(telemetry.OtlpEndpoint!, UriKind.Absolute);
        return telemetry.OtlpProtocol == OtlpTransport.HttpProtobuf && endpoint.AbsolutePath is "" or "/"
            ? new Uri(endpoint, "v1/metrics")
            : endpoint;
    }

    /// <summary>The configuration path of an endpoint's TLS settings, as error messages and logs name them.</summary>
    private static string SectionName(string endpoint) => $"{FastWsOptions.SectionName}:{endpoint}:Tls";

    /// <summary>Kestrel's own TLS, with the certificate (and its reloads) from <paramref name="source"/>.</summary>
    /// <param name="handshakeTimeout">
    /// The WebSocket endpoint's handshake timeout bounds the TLS handshake too (its own clock starts only after it,
    /// when the handler sees the connection); 0 means none. Null keeps Kestrel's default (10 s).
    /// </param>
    private static TlsHandshakeCallbackOptions TlsOptionsFor(CertificateSource source, TimeSpan? handshakeTimeout)
    {
        var tls = new TlsHandshakeCallbackOptions { OnConnection = source.OnHandshake };
        if (handshakeTimeout is { } timeout)
        {
            tls.HandshakeTimeout = timeout > TimeSpan.Zero ? timeout : Timeout.InfiniteTimeSpan;
        }

        return tls;
    }

    private static string Format(IPEndPoint endPoint) => endPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{endPoint.Address}]:{endPoint.Port}"
        : endPoint.ToString();
}
