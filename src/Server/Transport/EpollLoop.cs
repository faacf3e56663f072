using System.Runtime.InteropServices;

namespace FastWs.Server.Transport;

/// <summary>
/// One epoll instance and the thread that waits on it. Sockets are registered once, edge-triggered, for both
/// directions; an event only flips the socket's <see cref="ReadinessSignal"/>s, and whatever was waiting on
/// them (a read loop, a backlog send) continues right here on this thread, so a message is read, parsed and
/// fanned out without a thread-pool hop. When nothing happens the thread sleeps in <c>epoll_wait</c> and costs
/// nothing.
/// </summary>
internal sealed unsafe class EpollLoop : IDisposable
{
    private const int MaxEvents = 256;

    // Event data: the low 32 bits index the registration table, the high 32 bits are that slot's generation,
    // so an event fetched for a socket that has since gone (and whose slot was reused) is recognised and dropped.
    private readonly Lock _tableLock = new();
    private IEpollTarget?[] _targets = new IEpollTarget?[1024];
    private uint[] _generations = new uint[1024];
    private readonly Stack<int> _freeSlots = new();
    private int _nextSlot;

    private readonly int _epollFd;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private volatile bool _stopping;

    private readonly string _name;
    private readonly Hosting.ServerEvents _log;

    public EpollLoop(string name, Hosting.ServerEvents? log = null)
    {
        _name = name;
        _log = log ?? Hosting.ServerEvents.None;
        _epollFd = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (_epollFd < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _wakeFd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        var wake = new Libc.EpollEvent { Events = Libc.EPOLLIN, Data = ulong.MaxValue };
        if (_wakeFd < 0 || Libc.epoll_ctl_raw(_epollFd, Libc.EPOLL_CTL_ADD, _wakeFd, &wake) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.close(_epollFd);
            throw new InvalidOperationException($"eventfd setup failed: errno {errno}");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.UnsafeStart();
    }

    /// <summary>Registers a socket for edge-triggered readable and writable events; returns its slot.</summary>
    public int Add(SocketHandle socket, IEpollTarget target)
    {
        int slot = Reserve(target, out ulong data);
        var ev = new Libc.EpollEvent { Events = Libc.EPOLLIN | Libc.EPOLLOUT | Libc.EPOLLRDHUP | Libc.EPOLLET, Data = data };
        return Libc.epoll_ctl(_epollFd, Libc.EPOLL_CTL_ADD, socket, &ev) == 0 ? slot : Fail(slot);
    }

    /// <summary>Registers a listening socket for edge-triggered "connections waiting" events; returns its slot.</summary>
    public int AddListener(System.Net.Sockets.SafeSocketHandle socket, IEpollTarget target)
    {
        int slot = Reserve(target, out ulong data);
        var ev = new Libc.EpollEvent { Events = Libc.EPOLLIN | Libc.EPOLLET, Data = data };
        return Libc.epoll_ctl_listener(_epollFd, Libc.EPOLL_CTL_ADD, socket, &ev) == 0 ? slot : Fail(slot);
    }

    /// <summary>
    /// Forgets a registration. Called before the socket is closed (closing removes it from epoll); events
    /// already fetched for it are dropped by the generation check.
    /// </summary>
    public void Remove(int slot)
    {
        lock (_tableLock)
        {
            _targets[slot] = null;
            _generations[slot]++;
            _freeSlots.Push(slot);
        }
    }

    private int Reserve(IEpollTarget target, out ulong data)
    {
        lock (_tableLock)
        {
            if (!_freeSlots.TryPop(out int slot))
            {
                slot = _nextSlot++;
                if (slot == _targets.Length)
                {
                    Array.Resize(ref _targets, slot * 2);
                    Array.Resize(ref _generations, slot * 2);
                }
            }

            _targets[slot] = target;
            data = ((ulong)_generations[slot] << 32) | (uint)slot;
            return slot;
        }
    }

    private int Fail(int slot)
    {
        int errno = Marshal.GetLastPInvokeError();
        Remove(slot);
        throw new System.Net.Sockets.SocketException(errno);
    }

    private void Run()
    {
        Libc.EpollEvent* events = stackalloc Libc.EpollEvent[MaxEvents];
        while (!_stopping)
        {
            int count = Libc.epoll_wait(_epollFd, events, MaxEvents, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }

                return;
            }

            for (int i = 0; i < count; i++)
            {
                ulong data = events[i].Data;
                if (data == ulong.MaxValue)
                {
                    continue; // the wake-up eventfd: only ever written to stop the loop
                }

                IEpollTarget? target = Lookup(data);
                try
                {
                    target?.OnEvents(events[i].Events);
                }
                catch (Exception ex)
                {
                    // Continuations catch their own exceptions (they are async methods); anything that still gets
                    // here is a bug, and must not stop the loop that every other socket on it depends on.
                    _log.EpollLoopError(_name, ex);
                }
            }
        }
    }

    private IEpollTarget? Lookup(ulong data)
    {
        int slot = (int)(uint)data;
        uint generation = (uint)(data >> 32);
        lock (_tableLock)
        {
            return slot < _targets.Length && _generations[slot] == generation ? _targets[slot] : null;
        }
    }

    public void Dispose()
    {
        _stopping = true;
        ulong one = 1;
        Libc.write(_wakeFd, (byte*)&one, sizeof(ulong));
        _thread.Join(TimeSpan.FromSeconds(5));
        Libc.close(_wakeFd);
        Libc.close(_epollFd);
    }
}

/// <summary>What an <see cref="EpollLoop"/> tells about events on a registered socket.</summary>
internal interface IEpollTarget
{
    /// <summary>Runs on the loop's thread with the epoll event mask.</summary>
    void OnEvents(uint events);
}
