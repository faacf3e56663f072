using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Metrics;

namespace FastWs.Server.Hosting;

/// <summary>The shared state of one running server: what every connection and endpoint works against.</summary>
public sealed class ServerState : IAsyncDisposable
{
    public ServerState(FastWsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Namespaces = new NamespaceCatalog(options.Namespaces);
        int shards = options.FanOutShards > 0 ? options.FanOutShards : Environment.ProcessorCount;
        Channels = new ChannelRegistry(shards);
        Publisher = new MessagePublisher(Channels, Namespaces, Metrics, options.FanOutQueueCapacity);
    }

    public FastWsOptions Options { get; }

    public NamespaceCatalog Namespaces { get; }

    public ChannelRegistry Channels { get; }

    public ConnectionRegistry Connections { get; } = new();

    public ServerMetrics Metrics { get; } = new();

    public MessagePublisher Publisher { get; }

    /// <summary>Set when shutdown begins: no new connections are served and no new messages accepted.</summary>
    public bool IsShuttingDown { get; private set; }

    internal void BeginShutdown()
    {
        IsShuttingDown = true;
        Publisher.Stop();
    }

    public ValueTask DisposeAsync() => Publisher.DisposeAsync();
}
