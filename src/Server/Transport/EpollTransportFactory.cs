using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Server.Transport;

/// <summary>
/// Kestrel transport for the WebSocket endpoint: sockets driven by FastWs's own epoll loops instead of Kestrel's
/// socket transport. Kestrel still hosts the endpoint and runs the <c>ConnectionHandler</c>; what changes is
/// everything below it: no pipes, no socket event args, no receive buffer while idle, and direct
/// <c>send</c>/<c>recv</c> system calls. It binds only <see cref="EpollEndPoint"/>s, so other endpoints (the HTTP
/// API) stay on Kestrel's socket transport.
/// </summary>
internal sealed class EpollTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    private readonly int _loopCount;
    private readonly int _sendBufferBytes;
    private readonly int _deferAcceptSeconds;
    private readonly Lock _lock = new();
    private EpollLoop[]? _loops;
    private readonly Hosting.ServerEvents _log;

    /// <param name="deferAcceptSeconds">TCP_DEFER_ACCEPT for the listening sockets (0 = off; see TransportOptions.DeferAccept).</param>
    /// <param name="log">Where an exception escaping a socket's handler on an epoll thread is logged.</param>
    public EpollTransportFactory(int loopCount, int sendBufferBytes, int deferAcceptSeconds, Hosting.ServerEvents? log = null)
    {
        _log = log ?? Hosting.ServerEvents.None;
        _loopCount = Math.Max(1, loopCount);
        _sendBufferBytes = sendBufferBytes;
        _deferAcceptSeconds = deferAcceptSeconds;
    }

    /// <summary>Linux on x86-64: where the system calls and the epoll_event layout above are right.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public bool CanBind(EndPoint endpoint) => endpoint is EpollEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        EpollLoop[] loops;
        lock (_lock)
        {
            loops = _loops ??= CreateLoops();
        }

        var bindTo = new IPEndPoint(((IPEndPoint)endpoint).Address, ((IPEndPoint)endpoint).Port);
        try
        {
            return new ValueTask<IConnectionListener>(new EpollListener(bindTo, loops, _sendBufferBytes, _deferAcceptSeconds, backlog: 512));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            // What Kestrel's own transports throw: Kestrel turns it into "Failed to bind to address ...: address already in use."
            throw new AddressInUseException(e.Message, e);
        }
    }

    private EpollLoop[] CreateLoops()
    {
        var loops = new EpollLoop[_loopCount];
        for (int i = 0; i < loops.Length; i++)
        {
            loops[i] = new EpollLoop($"FastWs epoll {i}", _log);
        }

        return loops;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_loops is not null)
            {
                foreach (EpollLoop loop in _loops)
                {
                    loop.Dispose();
                }

                _loops = null;
            }
        }
    }
}

/// <summary>An address for Kestrel to bind with the epoll transport (<see cref="EpollTransportFactory"/>).</summary>
internal sealed class EpollEndPoint : IPEndPoint
{
    public EpollEndPoint(IPEndPoint endPoint)
        : base(endPoint.Address, endPoint.Port)
    {
    }
}
