using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace FastWs.Server.Transport;

/// <summary>
/// A listening socket of the epoll transport. Connections are accepted on the epoll thread as soon as the
/// listener reports them (<c>accept4</c> until it would block), registered with a loop (round robin over the
/// loops) and queued for Kestrel, whose accept loop takes them through <see cref="AcceptAsync"/>.
/// </summary>
internal sealed class EpollListener : IConnectionListener, IEpollTarget
{
    private readonly Socket _listenSocket;
    private readonly EpollLoop[] _loops;
    private readonly int _listenerSlot;
    private readonly Channel<EpollConnection> _accepted = Channel.CreateUnbounded<EpollConnection>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false, AllowSynchronousContinuations = true });
    private readonly Lock _acceptLock = new();
    private int _nextLoop;
    private Timer? _retry;
    private volatile bool _unbound;

    public EpollListener(EndPoint endPoint, EpollLoop[] loops, int sendBufferBytes, int deferAcceptSeconds, int backlog)
    {
        _loops = loops;
        _listenSocket = SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
        if (sendBufferBytes > 0)
        {
            // Accepted sockets inherit SO_SNDBUF from the listener (see SlowConsumerOptions.SocketSendBufferBytes).
            _listenSocket.SendBufferSize = sendBufferBytes;
        }

        _listenSocket.NoDelay = true;
        if (deferAcceptSeconds > 0)
        {
            // The kernel completes the TCP handshake but queues the connection for accept only once data (the
            // upgrade request, or a FIN) has arrived: the accept and the first read are then one wake-up, and a
            // silent connection costs no server work until the defer period ends (see TransportOptions.DeferAccept).
            _listenSocket.SetRawSocketOption(Libc.IPPROTO_TCP, Libc.TCP_DEFER_ACCEPT, BitConverter.GetBytes(deferAcceptSeconds));
        }

        _listenSocket.Listen(backlog);
        SafeSocketHandle handle = _listenSocket.SafeHandle;
        int flags = Libc.fcntl(handle, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.fcntl(handle, Libc.F_SETFL, flags | Libc.O_NONBLOCK) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _listenSocket.Dispose();
            throw new SocketException(errno);
        }

        EndPoint = _listenSocket.LocalEndPoint!;
        _listenerSlot = loops[0].AddListener(handle, this);
    }

    public EndPoint EndPoint { get; }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public void OnEvents(uint events) => AcceptPending();

    /// <summary>Accepts every connection waiting (edge-triggered: until accept says it would block).</summary>
    private unsafe void AcceptPending()
    {
        Span<byte> address = stackalloc byte[128];
        lock (_acceptLock)
        {
            while (!_unbound)
            {
                int length = address.Length;
                int fd;
                try
                {
                    fixed (byte* addressBytes = address)
                    {
                        fd = Libc.accept4(_listenSocket.SafeHandle, addressBytes, &length, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
                    }
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                if (fd < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR || errno == Libc.ECONNABORTED)
                    {
                        continue;
                    }

                    if (errno != Libc.EAGAIN)
                    {
                        // Out of descriptors or memory: connections stay queued in the kernel, and with edge-triggered
                        // events nothing would announce them again, so look again shortly.
                        _retry ??= new Timer(static state => ((EpollListener)state!).RetryAccept(), this, Timeout.Infinite, Timeout.Infinite);
                        _retry.Change(100, Timeout.Infinite);
                    }

                    return;
                }

                Accept(new SocketHandle(fd), PeerAddress.FromSockaddr(address[..length]));
            }
        }
    }

    private void RetryAccept() => AcceptPending();

    private unsafe void Accept(SocketHandle socket, PeerAddress remote)
    {
        int one = 1;
        Libc.setsockopt(socket, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &one, sizeof(int));
        EpollLoop loop = _loops[_nextLoop++ % _loops.Length];
        var connection = new EpollConnection(socket, loop, EndPoint, remote);
        try
        {
            connection.Register();
        }
        catch (SocketException)
        {
            socket.Dispose();
            return;
        }

        if (!_accepted.Writer.TryWrite(connection))
        {
            _ = connection.DisposeAsync();
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Unbind();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        Unbind();
        // Connections accepted but never taken by Kestrel are closed here.
        while (_accepted.Reader.TryRead(out EpollConnection? connection))
        {
            _ = connection.DisposeAsync();
        }

        return default;
    }

    private void Unbind()
    {
        lock (_acceptLock)
        {
            if (_unbound)
            {
                return;
            }

            _unbound = true;
        }

        _loops[0].Remove(_listenerSlot);
        _retry?.Dispose();
        _listenSocket.Dispose();
        _accepted.Writer.TryComplete();
    }
}
