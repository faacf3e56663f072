using FastWs.Server.Auth;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Hosting;
using FastWs.Server.Http;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Tests;

/// <summary>
/// The start-up warm-up connection: a real server serves it before it reports ready and is left as if nobody
/// had been there (apart from the counters that saw it), a failing warm-up is logged and does not keep the
/// server from becoming ready, and <c>/readyz</c> waits for it.
/// </summary>
public sealed class StartupWarmUpTests
{
    [Theory]
    [MemberData(nameof(TransportSetups.All), MemberType = typeof(TransportSetups))]
    public async Task A_started_server_has_served_the_warm_up_connection_and_left_nothing_behind(TransportEngine engine, bool directSends)
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            TransportSetups.Apply(o, engine, directSends);
            o.WarmUp = true;
        });

        await AssertOneCleanWarmUpAsync(server);
        Assert.True(server.State.Metrics.SubscriptionChanges >= 2, "the warm-up subscribes and unsubscribes");
        Assert.Equal(0, server.State.Channels.Count);
        Assert.Equal(1, server.State.Metrics.Published); // the warm-up's own message, delivered back to it

        using var http = new HttpClient { BaseAddress = server.HttpUri };
        using HttpResponseMessage ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());

        // Real clients are served as usual afterwards.
        await using TestClient subscriber = await server.ConnectAsync("subscribe=price:SOL");
        await subscriber.ReceiveTypeAsync("subscribed");
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":1}""");
        JsonElement message = await subscriber.ReceiveTypeAsync("message");
        Assert.Equal(1, message.GetProperty("seq").GetInt64());
    }

    [Theory]
    [InlineData("Nobody", "Loopback", false, false)]
    [InlineData("Loopback", "Loopback", true, true)] // the warm-up comes from 127.0.0.1, so loopback-only namespaces let it in
    [InlineData("Anyone", "Nobody", true, false)]
    [InlineData("Authenticated", "Loopback", false, false)] // the warm-up has no token
    public async Task The_warm_up_subscribes_and_publishes_only_where_its_address_may(string subscribeRule, string publishRule, bool subscribes, bool publishes)
    {
        AccessPolicy subscribe = AccessPolicy.Parse(subscribeRule), publish = AccessPolicy.Parse(publishRule);
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.WarmUp = true;
            foreach (NamespaceOptions ns in o.Namespaces.Values)
            {
                ns.Subscribe = subscribe;
                ns.Publish = publish;
            }
        });

        await AssertOneCleanWarmUpAsync(server);
        Assert.Equal(subscribes ? 2 : 0, server.State.Metrics.SubscriptionChanges);
        Assert.Equal(publishes ? 1 : 0, server.State.Metrics.Published);
    }

    [Fact]
    public void The_warm_up_channel_is_its_own_key_in_the_first_namespace_that_lets_it_subscribe_and_publish()
    {
        var options = new FastWsOptions();
        options.Namespaces.Clear();
        options.Namespaces["alpha"] = new NamespaceOptions { Subscribe = AccessPolicy.Anyone, Publish = AccessPolicy.Nobody };
        options.Namespaces["beta"] = new NamespaceOptions { Subscribe = AccessPolicy.Loopback, Publish = AccessPolicy.Loopback };
        options.Namespaces["gamma"] = new NamespaceOptions { Subscribe = AccessPolicy.Anyone, Publish = AccessPolicy.Anyone };
        var warmUp = new StartupWarmUp(new ServerState(options), new ListLogger());

        Assert.Equal(("beta:warm-up", true), warmUp.WarmUpChannel(fromLoopback: true));
        Assert.Equal(("gamma:warm-up", true), warmUp.WarmUpChannel(fromLoopback: false));

        options.Namespaces.Remove("gamma");
        var noPublish = new StartupWarmUp(new ServerState(options), new ListLogger());
        Assert.Equal(("alpha:warm-up", false), noPublish.WarmUpChannel(fromLoopback: false));

        options.Namespaces.Clear();
        Assert.Null(new StartupWarmUp(new ServerState(options), new ListLogger()).WarmUpChannel(fromLoopback: true));
    }

    [Fact]
    public async Task A_warm_up_the_endpoint_refuses_is_logged_and_the_server_is_ready_anyway()
    {
        // Stands in for a WebSocket endpoint that answers the upgrade with an HTTP error.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Task answer = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync();
            NetworkStream stream = peer.GetStream();
            var buffer = new byte[4096];
            int read = 0;
            while (!Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                read += await stream.ReadAsync(buffer.AsMemory(read));
            }

            await stream.WriteAsync("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        });

        var state = new ServerState(new FastWsOptions());
        var logger = new ListLogger();
        Assert.False(state.IsWarm);
        await new StartupWarmUp(state, logger).RunAsync((IPEndPoint)listener.LocalEndpoint, CancellationToken.None);
        await answer;

        Assert.True(state.IsWarm);
        string warning = Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning).Message;
        Assert.Contains("503 Service Unavailable", warning, StringComparison.Ordinal);
        Assert.Contains("ready anyway", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_warm_up_with_nobody_listening_is_logged_and_the_server_is_ready_anyway()
    {
        IPEndPoint closed;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closed = (IPEndPoint)listener.LocalEndpoint;
        }

        var state = new ServerState(new FastWsOptions());
        var logger = new ListLogger();
        await new StartupWarmUp(state, logger).RunAsync(closed, CancellationToken.None);

        Assert.True(state.IsWarm);
        Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task Readyz_is_503_while_warming_up_and_once_shutdown_begins()
    {
        var state = new ServerState(new FastWsOptions());
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(state);
        services.AddFastWsHealthChecks();
        await using ServiceProvider provider = services.BuildServiceProvider();
        HealthCheckService health = provider.GetRequiredService<HealthCheckService>();

        Assert.Equal((503, "warming up\n"), await HealthEndpoints.ReadinessAsync(health));
        Assert.Equal((200, "ok\n"), await HealthEndpoints.LivenessAsync(health));
        state.MarkWarm();
        Assert.Equal((200, "ready\n"), await HealthEndpoints.ReadinessAsync(health));
        state.BeginShutdown();
        Assert.Equal((503, "shutting down\n"), await HealthEndpoints.ReadinessAsync(health));
        Assert.Equal((200, "ok\n"), await HealthEndpoints.LivenessAsync(health));
        await state.DisposeAsync();
    }

    [Fact]
    public void A_wildcard_bind_is_warmed_up_over_the_loopback_address_of_its_family()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9000), StartupWarmUp.LoopbackFor(new IPEndPoint(IPAddress.Any, 9000)));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 9000), StartupWarmUp.LoopbackFor(new IPEndPoint(IPAddress.IPv6Any, 9000)));
        var specific = new IPEndPoint(IPAddress.Parse("127.0.0.5"), 9000);
        Assert.Equal(specific, StartupWarmUp.LoopbackFor(specific));
    }

    /// <summary>
    /// StartAsync returns once the warm-up is done: one connection opened and cleaned up, closed normally, no failed
    /// handshake and no error sent.
    /// </summary>
    private static async Task AssertOneCleanWarmUpAsync(TestServer server)
    {
        Assert.True(server.State.IsWarm);
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal);
        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 0, "the warm-up connection to be cleaned up");
        Assert.Equal(1, server.State.Metrics.ClosesWithCode(CloseCode.NormalClosure));
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal);
        Assert.Equal(0, server.State.Metrics.ErrorsSent);
    }

    private sealed class ListLogger : ILogger
    {
        private readonly Lock _lock = new();
        private readonly List<(LogLevel Level, string Message)> _entries = [];

        public IReadOnlyList<(LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_lock)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lock)
            {
                _entries.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
