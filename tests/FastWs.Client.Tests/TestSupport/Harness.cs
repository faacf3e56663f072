using System.Net;
using FastWs.LoadGen.Net;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests.TestSupport;

/// <summary>
/// A real server with the market-data defaults (history, snapshots, retention) and the relay in front of it: clients
/// connect to the relay, so a test can drop, freeze or redirect their connections as a network would.
/// </summary>
internal sealed class Harness : IAsyncDisposable
{
    private Harness(TestServer server, DropProxy proxy)
    {
        Server = server;
        Proxy = proxy;
    }

    public TestServer Server { get; private set; }

    public DropProxy Proxy { get; }

    /// <summary>The WebSocket URL through the relay.</summary>
    public Uri Url => new($"ws://127.0.0.1:{Proxy.EndPoint.Port}/ws");

    public static async Task<Harness> StartAsync(Action<FastWsOptions>? configure = null)
    {
        TestServer server = await TestServer.StartAsync(configure, marketDataDefaults: true);
        var proxy = new DropProxy(server.WebSocketEndPoint);
        proxy.Start();
        return new Harness(server, proxy);
    }

    /// <summary>Options with short delays, so reconnects in tests take milliseconds.</summary>
    public static FastWsClientOptions FastOptions(Action<FastWsClientOptions>? configure = null)
    {
        var options = new FastWsClientOptions
        {
            Backoff = new BackoffOptions { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(300) },
            PolicyBackoff = new BackoffOptions { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(300) },
            RequestTimeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return options;
    }

    public FastWsClient Client(Action<FastWsClientOptions>? configure = null) => new(Url, FastOptions(configure));

    public Task PublishAsync(string channel, int n) =>
        Server.Server.Publisher.PublishAsync(channel, $$"""{"n":{{n}}}""").AsTask();

    /// <summary>Stops the server and starts a new one (new epochs, empty history); the relay goes to it.</summary>
    /// <param name="beforeClientsReturn">Runs against the new server before the relay lets clients reach it.</param>
    public async Task RestartAsync(Func<Task>? beforeClientsReturn = null)
    {
        Proxy.Refuse = true;
        await Server.DisposeAsync();
        Server = await TestServer.StartAsync(marketDataDefaults: true);
        if (beforeClientsReturn is not null)
        {
            await beforeClientsReturn();
        }

        Proxy.Target = Server.WebSocketEndPoint;
        Proxy.Refuse = false;
    }

    /// <summary>Reads <paramref name="count"/> items of the stream, failing after the timeout.</summary>
    public static async Task<List<FastWsMessage>> TakeAsync(FastWsSubscription subscription, int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestServer.DefaultTimeout);
        var items = new List<FastWsMessage>();
        try
        {
            await foreach (FastWsMessage item in subscription.WithCancellation(cts.Token))
            {
                items.Add(item);
                if (items.Count == count)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{subscription.Channel}: got {items.Count} of {count} items in time: {string.Join(", ", items)}");
        }

        return items;
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Server.DisposeAsync();
    }
}
