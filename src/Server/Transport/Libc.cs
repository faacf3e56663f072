using System.Runtime.InteropServices;

namespace FastWs.Server.Transport;

/// <summary>
/// The Linux system calls the epoll transport (and the write coalescer's timer) make, bound straight to glibc. Every call that takes a socket
/// takes its <see cref="SocketHandle"/>, so the marshaller holds a reference across the call and a socket
/// closed by another thread can never be reused under a call in flight.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Library = "libc.so.6";

    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int ECONNABORTED = 103;

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_DONTWAIT = 0x40;
    public const int SHUT_RDWR = 2;

    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int O_NONBLOCK = 0x800;

    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    public const int CLOCK_MONOTONIC = 1;
    public const int TFD_CLOEXEC = 0x80000;
    public const int TFD_TIMER_ABSTIME = 1;

    public const int AF_INET = 2;
    public const int AF_INET6 = 10;

    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int TCP_DEFER_ACCEPT = 9;

    /// <summary>struct epoll_event: packed on x86-64 (the only architecture the transport is enabled on).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>struct itimerspec on x86-64: the interval, then the value, each seconds and nanoseconds.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ITimerSpec
    {
        public long IntervalSeconds;
        public long IntervalNanoseconds;
        public long ValueSeconds;
        public long ValueNanoseconds;
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, SocketHandle fd, EpollEvent* ev);

    [LibraryImport(Library, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int epoll_ctl_listener(int epfd, int op, System.Net.Sockets.SafeSocketHandle fd, EpollEvent* ev);

    [LibraryImport(Library, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int epoll_ctl_raw(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeout);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int accept4(System.Net.Sockets.SafeSocketHandle fd, byte* address, int* addressLength, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fcntl(System.Net.Sockets.SafeSocketHandle fd, int command, int argument);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint recv(SocketHandle fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint send(SocketHandle fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int shutdown(SocketHandle fd, int how);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int setsockopt(SocketHandle fd, int level, int name, int* value, int length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int dup(System.Net.Sockets.SafeSocketHandle fd);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint length);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int timerfd_create(int clockId, int flags);

    [LibraryImport(Library, SetLastError = true)]
    public static partial int timerfd_settime(int fd, int flags, ITimerSpec* newValue, ITimerSpec* oldValue);
}
