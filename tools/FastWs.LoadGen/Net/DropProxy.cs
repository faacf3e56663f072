using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace FastWs.LoadGen.Net;

/// <summary>
/// A TCP relay on a loopback port in front of a server, standing in for the network: <see cref="DropAll"/> resets every
/// relayed connection on both sides at once (an RST, no close frame: a load balancer restart, a NAT that forgot them, a
/// network blip), while the server stays up; <see cref="Target"/> can be pointed at another server (a restart on a new
/// port). Used by the <c>storm</c> scenario and the client tests. Bytes are copied as they come; nothing is parsed.
/// </summary>
internal sealed class DropProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly HashSet<Pair> _pairs = [];
    private Task? _accepting;
    private volatile IPEndPoint _target;
    private long _accepted;

    public DropProxy(IPEndPoint target)
    {
        LoopbackGuardCheck(target);
        _target = target;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4096);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    /// <summary>Where clients connect.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Where new connections are relayed to.</summary>
    public IPEndPoint Target
    {
        get => _target;
        set
        {
            LoopbackGuardCheck(value);
            _target = value;
        }
    }

    /// <summary>While true, new connections are reset at once (the server looks down).</summary>
    public bool Refuse { get; set; }

    /// <summary>While true, relayed bytes are held back in both directions (a half-open connection: nothing arrives, nothing fails).</summary>
    public bool Frozen { get; set; }

    /// <summary>Connections relayed now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _pairs.Count;
            }
        }
    }

    /// <summary>Connections accepted and relayed since the start.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    public void Start() => _accepting = Task.Run(AcceptLoopAsync);

    /// <summary>Resets every relayed connection on both sides at once; returns how many.</summary>
    public int DropAll()
    {
        Pair[] pairs;
        lock (_gate)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
        }

        foreach (Pair pair in pairs)
        {
            pair.Reset();
        }

        return pairs.Length;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        DropAll();
        if (_accepting is not null)
        {
            try
            {
                await _accepting.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }

    private static void LoopbackGuardCheck(IPEndPoint endPoint)
    {
        if (!IPAddress.IsLoopback(endPoint.Address))
        {
            throw new ArgumentException($"{endPoint} is not a loopback address: the relay only runs on this host", nameof(endPoint));
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(Socket client)
    {
        client.NoDelay = true;
        if (Refuse)
        {
            Pair.ResetSocket(client);
            return;
        }

        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await server.ConnectAsync(_target, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            Pair.ResetSocket(client);
            server.Dispose();
            return;
        }

        var pair = new Pair(client, server);
        lock (_gate)
        {
            _pairs.Add(pair);
        }

        Interlocked.Increment(ref _accepted);
        await Task.WhenAll(CopyAsync(client, server), CopyAsync(server, client)).ConfigureAwait(false);
        lock (_gate)
        {
            _pairs.Remove(pair);
        }

        pair.Reset();
    }

    /// <summary>Copies one direction until it ends; an orderly end is passed on as one (FIN), a failure resets both.</summary>
    private async Task CopyAsync(Socket from, Socket to)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(8192);
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                while (Frozen && !_stop.IsCancellationRequested)
                {
                    await Task.Delay(10).ConfigureAwait(false);
                }

                int sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            Pair.ResetSocket(from);
            Pair.ResetSocket(to);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A client socket and the socket relaying it to the server.</summary>
    private sealed class Pair(Socket client, Socket server)
    {
        public void Reset()
        {
            ResetSocket(client);
            ResetSocket(server);
        }

        /// <summary>SO_LINGER 0 then close: the peer gets an RST, not a FIN, as when a connection is lost.</summary>
        public static void ResetSocket(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }

            socket.Dispose();
        }
    }
}
