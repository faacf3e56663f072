using System.Runtime.InteropServices;

namespace FastWs.Server.Transport;

/// <summary>
/// A socket file descriptor owned by the epoll transport. Closing is reference counted by the runtime: the
/// descriptor is closed when the last system call using it returns, so a fan-out thread sending while the
/// connection ends gets an <see cref="ObjectDisposedException"/> instead of writing to a reused descriptor.
/// </summary>
internal sealed class SocketHandle : SafeHandle
{
    public SocketHandle(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle == -1;

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
