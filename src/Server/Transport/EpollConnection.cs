using System.IO.Pipelines;
using System.Net;
using System.Runtime.InteropServices;
using FastWs.Server.Connections;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace FastWs.Server.Transport;

/// <summary>
/// One accepted socket of the epoll transport, as Kestrel's <see cref="ConnectionContext"/>: the descriptor,
/// its read side (<see cref="EpollInput"/>), a small writer for the HTTP handshake (<see cref="EpollOutput"/>),
/// and the direct sends that fan-out uses (<see cref="ISocketSender"/>). About a dozen small objects in all,
/// no pipes and no buffers while the connection is idle.
/// </summary>
internal sealed class EpollConnection : ConnectionContext, IDuplexPipe, IFeatureCollection, IEpollTarget, ISocketSender
{
    private static long s_lastNumber;

    private readonly SocketHandle _socket;
    private readonly EpollLoop _loop;
    private readonly EpollInput _input;
    private FeatureSlots _features;
    private readonly long _number;
    private readonly PeerAddress _peer;
    private EpollOutput? _output;
    private ReadinessSignal? _writable;
    private IDictionary<object, object?>? _items;
    private string? _id;
    private int _slot = -1;
    private volatile ConnectionAbortedException? _abortReason;
    private int _disposed;

    public EpollConnection(SocketHandle socket, EpollLoop loop, EndPoint? localEndPoint, PeerAddress peer)
    {
        _socket = socket;
        _loop = loop;
        _number = Interlocked.Increment(ref s_lastNumber);
        _input = new EpollInput(this);
        _peer = peer;
        LocalEndPoint = localEndPoint;
    }

    internal SocketHandle Socket => _socket;

    /// <summary>Starts receiving events; until then nothing reads or writes the socket.</summary>
    internal void Register() => _slot = _loop.Add(_socket, this);

    /// <summary>Set once the connection was aborted: every read after that throws it.</summary>
    internal ConnectionAbortedException? AbortReason => _abortReason;

    /// <summary>Made on each read rather than kept (see <see cref="PeerAddress"/>), unless something set one.</summary>
    public override EndPoint? RemoteEndPoint
    {
        get => base.RemoteEndPoint ?? _peer.ToEndPoint();
        set => base.RemoteEndPoint = value;
    }

    /// <summary>Made on each read rather than kept: Kestrel reads it only to log, and a kept string costs every idle connection.</summary>
    public override string ConnectionId
    {
        get => _id ?? "E" + _number.ToString("X", System.Globalization.CultureInfo.InvariantCulture);
        set => _id = value;
    }

    /// <summary>The connection is its own feature collection (see <see cref="FeatureSlots"/>): one object fewer per connection.</summary>
    public override IFeatureCollection Features => this;

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _features.Revision;

    /// <summary>A stored feature, or else the connection itself where it implements the feature (the direct sender).</summary>
    object? IFeatureCollection.this[Type key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            return _features.TryGet(key, out object? value) ? value : key.IsInstanceOfType(this) ? this : null;
        }

        set
        {
            ArgumentNullException.ThrowIfNull(key);
            _features.Set(key, value);
        }
    }

    TFeature? IFeatureCollection.Get<TFeature>() where TFeature : default => (TFeature?)((IFeatureCollection)this)[typeof(TFeature)];

    void IFeatureCollection.Set<TFeature>(TFeature? instance) where TFeature : default => ((IFeatureCollection)this)[typeof(TFeature)] = instance;

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator() => _features.Snapshot().GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => _features.Snapshot().GetEnumerator();

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport
    {
        get => this;
        set => throw new NotSupportedException("The epoll transport's pipe cannot be replaced (no connection middleware wraps it).");
    }

    PipeReader IDuplexPipe.Input => _input;

    PipeWriter IDuplexPipe.Output => _output ??= new EpollOutput(this);

    public void OnEvents(uint events)
    {
        bool closed = (events & (Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0;
        if ((events & Libc.EPOLLIN) != 0 || closed)
        {
            _input.OnReadable(closed);
        }

        if ((events & (Libc.EPOLLOUT | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
        {
            _writable?.Signal();
        }
    }

    public unsafe int TrySend(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return 0;
        }

        nint sent;
        try
        {
            fixed (byte* source = bytes)
            {
                sent = Libc.send(_socket, source, (nuint)bytes.Length, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT);
            }
        }
        catch (ObjectDisposedException)
        {
            return -1; // closed by the connection's end while a fan-out thread was sending
        }

        if (sent >= 0)
        {
            return (int)sent;
        }

        int errno = Marshal.GetLastPInvokeError();
        return errno is Libc.EAGAIN or Libc.EINTR ? 0 : -1;
    }

    public ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes)
    {
        ReadinessSignal writable = _writable ??= new ReadinessSignal();
        if (!SendWhileRoom(writable, ref bytes))
        {
            return new ValueTask<bool>(false);
        }

        return bytes.IsEmpty ? new ValueTask<bool>(true) : SendWhenWritableAsync(writable, bytes);
    }

    private async ValueTask<bool> SendWhenWritableAsync(ReadinessSignal writable, ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            await writable.WaitAsync().ConfigureAwait(false);
            if (_disposed != 0 || _abortReason is not null || !SendWhileRoom(writable, ref bytes))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Sends from the front of <paramref name="bytes"/> while the socket takes them, claiming writability before
    /// each call (see <see cref="ReadinessSignal"/>). False when the connection failed.
    /// </summary>
    private bool SendWhileRoom(ReadinessSignal writable, ref ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty && writable.TryClaim())
        {
            int sent = TrySend(bytes.Span);
            if (sent < 0)
            {
                return false;
            }

            bytes = bytes[sent..];
            if (sent > 0)
            {
                writable.Restore(); // there was room; there may be more
            }
        }

        return true;
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (_abortReason is not null)
        {
            return;
        }

        _abortReason = abortReason;
        try
        {
            // Sends the FIN and wakes anything blocked on the socket; the descriptor stays until DisposeAsync.
            Libc.shutdown(_socket, Libc.SHUT_RDWR);
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }

        _input.OnReadable(peerClosed: true);
        _writable?.Signal();
    }

    /// <summary>
    /// Reads and drops what the peer sent that nobody read (the rest of a refused request, say), up to 64 KB:
    /// closing a TCP socket with unread bytes sends a reset instead of a FIN, and a reset can destroy the answer
    /// (a 431, a close frame) before the peer has read it.
    /// </summary>
    private unsafe void DiscardUnread()
    {
        byte* scratch = stackalloc byte[4096];
        try
        {
            for (int i = 0; i < 16 && Libc.recv(_socket, scratch, 4096, Libc.MSG_DONTWAIT) > 0; i++)
            {
            }
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }
    }

    public override ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return default;
        }

        _abortReason ??= new ConnectionAbortedException("The connection was closed.");
        if (_slot >= 0)
        {
            _loop.Remove(_slot);
        }

        DiscardUnread();

        // Closes the descriptor once no send on another thread is using it any more (closing drops it from epoll).
        _socket.Dispose();
        _input.Complete();
        _output?.Complete();
        _writable?.Signal();
        return default;
    }
}
