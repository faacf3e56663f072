using System.Net.Sockets;

namespace FastWs.Server.Connections;

/// <summary>Sends straight to the <see cref="Socket"/> of a connection on Kestrel's socket transport.</summary>
internal sealed class KestrelSocketSender : ISocketSender
{
    private readonly Socket _socket;

    public KestrelSocketSender(Socket socket)
    {
        _socket = socket;
        // Sends must never block fan-out: with Blocking = false a full send buffer returns WouldBlock
        // at once. Kestrel only uses asynchronous operations on the socket, which do not depend on this flag.
        _socket.Blocking = false;
    }

    public int TrySend(ReadOnlySpan<byte> bytes)
    {
        try
        {
            int sent = _socket.Send(bytes, SocketFlags.None, out SocketError error);
            if (error is SocketError.Success or SocketError.WouldBlock)
            {
                return sent;
            }
        }
        catch (ObjectDisposedException)
        {
            // The transport closed the socket: the connection is ending.
        }

        return -1;
    }

    public async ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            // On a stream socket this completes once every byte is sent, or with an error.
            int sent = await _socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false);
            return sent == bytes.Length;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
    }
}
