using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Connections;
using FastWs.Server.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace FastWs.Benchmarks;

/// <summary>
/// Publishing one message to <see cref="Subscribers"/> subscribers over real loopback TCP sockets: the output path
/// the server uses in production (<c>SocketOutput</c>: one non-blocking <c>send</c> per subscriber, straight from
/// the encoded frame), through either sender: Kestrel's <c>Socket</c> (<c>KestrelSocketSender</c>) or the epoll
/// transport's direct system call (<c>EpollConnection</c>). One operation = what <see cref="PublishBenchmarks"/> does, with each subscriber's frame
/// going through the kernel, plus one non-blocking <c>recv</c> per subscriber to empty its socket again.
/// </summary>
/// <remarks>
/// Most of the time is the kernel's (two system calls and the loopback TCP path per subscriber); the point of
/// this benchmark is the Allocated column: nothing per publish on the real send path either. At most 1,000
/// subscribers: every one takes two descriptors.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(PublishConfig))]
public class SocketPublishBenchmarks
{
    private readonly byte[] _scratch = new byte[64 * 1024];
    private PublishFixture _fixture = null!;
    private Socket[] _serverSides = [];
    private Socket[] _clientSides = [];
    private EpollLoop? _loop;
    private readonly List<EpollConnection> _epollConnections = [];

    [Params(1, 100, 1_000)]
    public int Subscribers { get; set; }

    /// <summary>Which <c>ISocketSender</c> the subscribers' output uses.</summary>
    [Params("socket", "epoll")]
    public string Sender { get; set; } = "socket";

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new PublishFixture();
        (_serverSides, _clientSides) = ConnectPairs(Subscribers);
        for (int i = 0; i < Subscribers; i++)
        {
            DefaultConnectionContext context = InMemoryTransport.CreateSocketContext("bench-socket-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (Sender == "epoll" && EpollTransportFactory.IsSupported)
            {
                // The epoll transport's connection over its own copy of the descriptor: sends are its send() calls.
                _loop ??= new EpollLoop("bench epoll");
                var connection = new EpollConnection(new SocketHandle(Libc.dup(_serverSides[i].SafeHandle)), _loop, null, default);
                _epollConnections.Add(connection);
                context.Features.Set<ISocketSender>(connection);
            }
            else
            {
                context.Features.Set<IConnectionSocketFeature>(new SocketFeature(_serverSides[i]));
            }

            _fixture.Subscribe(new WebSocketConnection(context, _fixture.State.Metrics, IPAddress.Loopback));
        }

        _fixture.Ready(Subscribers);
        Verify();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fixture.Dispose();
        foreach (EpollConnection connection in _epollConnections)
        {
            connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _loop?.Dispose();
        foreach (Socket socket in _serverSides.Concat(_clientSides))
        {
            socket.Dispose();
        }
    }

    [Benchmark]
    public long Publish()
    {
        _fixture.DeliverOnce();
        long received = 0;
        foreach (Socket client in _clientSides)
        {
            received += Math.Max(0, client.Receive(_scratch, SocketFlags.None, out _));
        }

        return received;
    }

    /// <summary>Every subscriber's socket must receive exactly the expected frame.</summary>
    private void Verify()
    {
        _fixture.DeliverOnce();
        byte[] expected = PublishFixture.ExpectedFrame(PublishFixture.FirstSequence);
        for (int i = 0; i < Subscribers; i++)
        {
            int n = _clientSides[i].Receive(_scratch, SocketFlags.None, out SocketError error);
            if (error != SocketError.Success || !_scratch.AsSpan(0, n).SequenceEqual(expected))
            {
                throw new InvalidOperationException($"Subscriber {i} received {n} bytes ({error}), expected the {expected.Length}-byte frame.");
            }
        }

        _fixture.RestartSequence();
    }

    /// <summary>Connected loopback TCP pairs (server side, client side); both non-blocking.</summary>
    private static (Socket[] Servers, Socket[] Clients) ConnectPairs(int count)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(count);
        var servers = new Socket[count];
        var clients = new Socket[count];
        for (int i = 0; i < count; i++)
        {
            clients[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            clients[i].Connect(listener.LocalEndPoint!);
            servers[i] = listener.Accept();
            servers[i].NoDelay = true;
            clients[i].Blocking = false;
        }

        return (servers, clients);
    }

    private sealed class SocketFeature(Socket socket) : IConnectionSocketFeature
    {
        public Socket Socket { get; } = socket;
    }
}
