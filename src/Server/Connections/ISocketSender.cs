namespace FastWs.Server.Connections;

/// <summary>
/// The two ways <see cref="SocketOutput"/> hands bytes to a connected socket: one non-blocking send from the
/// fan-out thread, and a background send that waits for room. Implemented over Kestrel's socket
/// (<see cref="KestrelSocketSender"/>) and by the epoll transport's connections.
/// </summary>
internal interface ISocketSender
{
    /// <summary>One non-blocking send: the bytes the kernel took (0 when its buffer is full), or -1 when the connection is gone.</summary>
    int TrySend(ReadOnlySpan<byte> bytes);

    /// <summary>Sends every byte, waiting for the peer to make room; false when the connection failed first.</summary>
    ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes);
}
