using System.Buffers;

namespace FastWs.Server.Connections;

/// <summary>What a flush achieved.</summary>
internal enum FlushStatus
{
    /// <summary>Everything is on its way; the connection is under its unsent-output limit.</summary>
    Sent,

    /// <summary>
    /// More than the limit is still unsent: the connection is congested, and the output calls
    /// <see cref="WebSocketConnection.OnOutputDrained"/> once the peer has drained it.
    /// </summary>
    Backlogged,

    /// <summary>The transport is gone; nothing more can be sent.</summary>
    Closed,
}

/// <summary>
/// Where one connection's frames go: the bytes written (as an <see cref="IBufferWriter{T}"/>), pushed to the
/// peer by <see cref="Flush"/>. <see cref="WebSocketConnection"/> decides what may be written (skipping,
/// closing); an output only moves bytes and reports how much is still unsent.
/// </summary>
/// <remarks>
/// Every member is called under the owning connection's write lock, and outputs take that same lock when they
/// finish work in the background, so an output never sees two writers at once.
/// </remarks>
internal abstract class ConnectionOutput : IBufferWriter<byte>
{
    public abstract void Advance(int count);

    public abstract Memory<byte> GetMemory(int sizeHint = 0);

    public abstract Span<byte> GetSpan(int sizeHint = 0);

    /// <summary>Pushes everything written since the last flush toward the peer.</summary>
    public abstract FlushStatus Flush();

    /// <summary>
    /// Sends a complete frame at once, straight from the caller's buffer, when nothing is queued ahead of it.
    /// Returns false, having done nothing, when the caller must write and flush instead.
    /// </summary>
    public virtual bool TrySendThrough(ReadOnlySpan<byte> frame, out FlushStatus status)
    {
        status = FlushStatus.Sent;
        return false;
    }

    /// <summary>The connection has ended: give back buffers once nothing uses them any more.</summary>
    public virtual void Release()
    {
    }
}
