using System.Threading.Tasks.Sources;

namespace FastWs.Server.Transport;

/// <summary>
/// Edge-triggered readiness of one direction (readable or writable) of one socket, and the single waiter on it.
/// epoll reports an edge once per change, so the owner must not wait while readiness it has not used up may
/// still be pending: it claims readiness before each system call (<see cref="TryClaim"/>) and only waits after
/// that call said "would block" (<see cref="WaitAsync"/>). An edge that lands in between is never lost: it
/// turns the state back to ready, and the wait returns at once.
/// </summary>
/// <remarks>
/// The epoll thread calls <see cref="Signal"/>; only the socket's reader (or its one background sender) calls
/// the other members. The continuation of a wait runs on the thread that signals, as Kestrel's inline
/// scheduling does: a read completes where the data arrived, with no thread-pool hop.
/// </remarks>
internal sealed class ReadinessSignal : IValueTaskSource<bool>
{
    private const int NotReady = 0;
    private const int Ready = 1;
    private const int Waiting = 2;

    // Ready at first: a new socket may already have data (or room) and the first edge may have passed.
    private int _state = Ready;
    private ManualResetValueTaskSourceCore<bool> _waiter;

    /// <summary>An edge arrived (or the socket is ending): wakes the waiter, if any.</summary>
    public void Signal()
    {
        if (Interlocked.Exchange(ref _state, Ready) == Waiting)
        {
            _waiter.SetResult(true);
        }
    }

    /// <summary>
    /// Takes the readiness before a system call. False means nothing has happened since the last call that
    /// would have blocked, so that call can be skipped and the caller can wait at once.
    /// </summary>
    public bool TryClaim() => Interlocked.Exchange(ref _state, NotReady) != NotReady;

    /// <summary>Puts back readiness the caller claimed but did not use up (a read that filled its buffer).</summary>
    public void Restore() => Signal();

    /// <summary>Waits for the next edge after a claim whose call would have blocked.</summary>
    public ValueTask<bool> WaitAsync()
    {
        _waiter.Reset();
        if (Interlocked.CompareExchange(ref _state, Waiting, NotReady) != NotReady)
        {
            // An edge came after the claim: the socket is ready again.
            return new ValueTask<bool>(true);
        }

        return new ValueTask<bool>(this, _waiter.Version);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _waiter.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiter.OnCompleted(continuation, state, token, flags);
}
