using System.Net;
using FastWs.Server.Hosting;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// A real FastWs server on ephemeral loopback ports, one per test. Disposing it shuts it down gracefully
/// (bounded in time), so tests can run in parallel without sharing anything.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    /// <summary>Default bound for anything a test waits on; a broken server fails the test instead of hanging it.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private bool _stopped;

    private TestServer(FastWsServer server)
    {
        Server = server;
    }

    public FastWsServer Server { get; }

    public ServerState State => Server.State;

    public Uri WebSocketUri => Server.WebSocketUri;

    public Uri HttpUri => Server.HttpUri;

    public IPEndPoint WebSocketEndPoint => Server.WebSocketEndPoint;

    /// <param name="args">Extra command-line arguments (configuration such as <c>--Logging:CaptureScopes=true</c>).</param>
    /// <param name="logs">A provider that sees every log entry (the configuration's levels still apply: pass
    /// <c>--Logging:LogLevel:FastWs=Debug</c> in <paramref name="args"/> for debug events).</param>
    /// <param name="marketDataDefaults">
    /// Keep the market-data namespaces' defaults (inline format, price conflation, snapshots, history, retention). Off:
    /// they deliver like <c>bench</c> (<see cref="PlainNamespaces"/>), which is what the tests of fan-out, limits and
    /// protection were written against; the tests of market-data behaviour (tests/FastWs.Server.Tests/MarketData and
    /// SeedCompatibility) switch it on.
    /// </param>
    /// <param name="time">The clock for conflation (a fake one for timing tests).</param>
    public static async Task<TestServer> StartAsync(Action<FastWsOptions>? configure = null, string[]? args = null, Microsoft.Extensions.Logging.ILoggerProvider? logs = null,
        bool marketDataDefaults = false, TimeProvider? time = null)
    {
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        FastWsServer server = await FastWsServer.StartAsync(
            ["--Logging:LogLevel:Default=Warning", .. args ?? []],
            options =>
            {
                options.WebSocket.Address = "127.0.0.1";
                options.WebSocket.Port = 0;
                options.Http.Address = "127.0.0.1";
                options.Http.Port = 0;

                // Every test client comes from 127.0.0.1: the protection limits (their own tests set them) would get
                // in the way of tests of the core, so they start switched off (0) here.
                options.Limits.MaxConnections = 0;
                options.Limits.MaxConnectionsPerIp = 0;
                options.Limits.MaxSubscribersPerKeyGroup = 0;
                options.Limits.MaxMessagesPerWindow = 0;

                // The idle trim is a blocking full collection of the whole process, here the shared test process:
                // off unless a test (IdleMemoryTrimTests) switches it on.
                options.Memory.TrimAfterIdle = TimeSpan.Zero;

                // The warm-up connection would show in every test's counters: off unless a test (StartupWarmUpTests) switches it on.
                options.WarmUp = false;
                if (!marketDataDefaults)
                {
                    PlainNamespaces(options);
                }

                configure?.Invoke(options);
            },
            timeout.Token,
            logging =>
            {
                if (logs is not null)
                {
                    logging.AddProvider(logs);
                }
            },
            time);

        Assert.NotEqual(0, server.WebSocketEndPoint.Port);
        Assert.NotEqual(0, server.HttpEndPoint.Port);
        Assert.True(IPAddress.IsLoopback(server.WebSocketEndPoint.Address));
        return new TestServer(server);
    }

    /// <summary>
    /// Every namespace delivers as <c>bench</c> does: the envelope format, no conflation, no snapshot, no history, and
    /// a channel goes with its last subscriber. Access rules and quotas stay as configured.
    /// </summary>
    public static void PlainNamespaces(FastWsOptions options)
    {
        foreach (NamespaceOptions settings in options.Namespaces.Values)
        {
            settings.DeliverPlainly();
        }
    }

    /// <summary>
    /// Lets anonymous connections subscribe to <c>intent</c>, <c>user</c> and <c>solver</c> channels with any key, for
    /// tests of limits and quotas that are not about identity (by default those namespaces need a user).
    /// </summary>
    public static void OpenIdentityNamespaces(FastWsOptions options)
    {
        foreach (string name in new[] { "intent", "user", "solver" })
        {
            options.Namespaces[name].Subscribe = FastWs.Server.Auth.AccessPolicy.Anyone;
            options.Namespaces[name].KeyPattern = null;
        }
    }

    /// <summary>The WebSocket URI with a query string (for <c>?subscribe=...</c>).</summary>
    public Uri WebSocketUriWithQuery(string query) => new UriBuilder(WebSocketUri) { Query = query }.Uri;

    /// <summary>Connects a <see cref="System.Net.WebSockets.ClientWebSocket"/>-based client.</summary>
    public Task<TestClient> ConnectAsync(string? query = null, CancellationToken cancellationToken = default) =>
        TestClient.ConnectAsync(query is null ? WebSocketUri : WebSocketUriWithQuery(query), cancellationToken);

    /// <summary>Graceful shutdown (what SIGTERM does), bounded in time.</summary>
    public async Task StopAsync()
    {
        _stopped = true;
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        await Server.StopAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_stopped)
            {
                await StopAsync();
            }
        }
        finally
        {
            await Server.DisposeAsync().AsTask().WaitAsync(DefaultTimeout);
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="what"/> after the timeout.</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        WaitUntilAsync(condition, () => what, timeout);

    /// <summary>As above, with the failure message made when it fails (so it can show the state at that moment).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, Func<string> what, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int polls = 0; !condition(); polls++)
        {
            if (watch.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit.TotalSeconds:0.#} s waiting for: {what()}");
            }

            // Poll tightly at first (most waits are for a message in flight), then back off.
            await Task.Delay(polls < 50 ? 1 : 10);
        }
    }
}
