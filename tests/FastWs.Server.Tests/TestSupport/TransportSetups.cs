using FastWs.Server.Hosting;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// The three ways a WebSocket connection's bytes can travel, for tests that must hold on each: the epoll
/// transport, Kestrel's socket transport with direct sends, and Kestrel's transport pipe.
/// </summary>
public static class TransportSetups
{
    public static TheoryData<TransportEngine, bool> All => new()
    {
        { TransportEngine.Epoll, true },
        { TransportEngine.Sockets, true },
        { TransportEngine.Sockets, false },
    };

    public static void Apply(FastWsOptions options, TransportEngine engine, bool directSends)
    {
        options.Transport.Engine = engine;
        options.Transport.DirectSends = directSends;
    }
}
