using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Server.Transport;

/// <summary>
/// The read side of an epoll connection as a <see cref="PipeReader"/>, straight over the socket: one array
/// rented only while it holds bytes (an idle connection holds none), filled by <c>recv</c> when epoll says data
/// arrived. What the consumer leaves unconsumed (a partial frame header, an incomplete upgrade request) stays at
/// the front and the next receive appends to it.
/// </summary>
/// <remarks>
/// Readiness follows the protocol of <see cref="ReadinessSignal"/>, with the pending read itself as the waiter:
/// when the epoll thread reports data for a waiting read it receives right there and completes the read, so
/// the consumer's continuation runs on the epoll thread. A short read means the socket was drained, so the next
/// read waits for the next edge without a <c>recv</c> that would only say "would block".
/// </remarks>
internal sealed unsafe class EpollInput : PipeReader, IValueTaskSource<ReadResult>
{
    private const int NotReady = 0;
    private const int Ready = 1;
    private const int Waiting = 2;

    private const int ReceiveSize = 4096;

    /// <summary>More unconsumed bytes than this (a consumer that never consumes) ends the connection.</summary>
    internal const int MaxBufferedBytes = 1024 * 1024;

    // The socket is the connection's: one reference fewer here.
    private readonly EpollConnection _connection;

    // A completed wait's result: only its two flags are kept here; its buffer is what Buffered() gives (nothing moves
    // the buffered bytes while they are handed out), so the waiter costs an idle connection no copy of a ReadResult.
    private const byte CanceledFlag = 1;
    private const byte CompletedFlag = 2;

    private int _state = Ready;
    private ManualResetValueTaskSourceCore<byte> _pending;

    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _unexamined;
    private bool _endOfStream;
    private bool _completed;
    private volatile bool _cancelRequested;

    // Set once epoll reported the peer's FIN (or a reset). From then on a short read no longer proves the socket
    // drained: the end of the stream may still be waiting behind the data, with no further edge to announce it.
    private volatile bool _peerClosed;

    public EpollInput(EpollConnection connection)
    {
        _connection = connection;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (cancellationToken.CanBeCanceled)
        {
            // FastWs never passes a token: a read ends by data, end of stream, CancelPendingRead or Abort.
            throw new NotSupportedException("EpollInput.ReadAsync does not take a cancellation token; use CancelPendingRead.");
        }

        if (TryTakeCancel(out ReadResult result) || TryReadBuffered(out result))
        {
            return new ValueTask<ReadResult>(result);
        }

        _pending.Reset();
        while (true)
        {
            if (TryReceive(out result))
            {
                return new ValueTask<ReadResult>(result);
            }

            if (Interlocked.CompareExchange(ref _state, Waiting, NotReady) == NotReady)
            {
                return new ValueTask<ReadResult>(this, _pending.Version);
            }
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        return TryTakeCancel(out result) || TryReadBuffered(out result) || TryReceive(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        // What was handed out is still exactly the buffered bytes: receives happen only within a read.
        ReadOnlySequence<byte> handedOut = Buffered();
        int consumedBytes = (int)handedOut.Slice(handedOut.Start, consumed).Length;
        _unexamined = handedOut.Slice(examined).Length > 0;
        _start += consumedBytes;
        if (_start == _end)
        {
            // Nothing left: give the array back, so a connection between messages holds no buffer.
            _start = _end = 0;
            ReturnBuffer();
        }
    }

    public override void CancelPendingRead()
    {
        _cancelRequested = true;
        if (Interlocked.CompareExchange(ref _state, Ready, Waiting) == Waiting)
        {
            _cancelRequested = false;
            HandOut();
            _pending.SetResult(CanceledFlag);
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _start = _end = 0;
        ReturnBuffer();
    }

    /// <summary>
    /// The epoll thread saw data (or the end of the stream), or the connection is being aborted: completes a
    /// waiting read, receiving on this thread.
    /// </summary>
    internal void OnReadable(bool peerClosed = false)
    {
        if (peerClosed)
        {
            _peerClosed = true;
        }

        if (Interlocked.Exchange(ref _state, Ready) != Waiting)
        {
            return;
        }

        while (true)
        {
            ReadResult result;
            try
            {
                if (!TryTakeCancel(out result) && !TryReceive(out result))
                {
                    if (Interlocked.CompareExchange(ref _state, Waiting, NotReady) == NotReady)
                    {
                        return; // a spurious edge: still waiting
                    }

                    continue;
                }
            }
            catch (Exception ex)
            {
                _pending.SetException(ex);
                return;
            }

            // result.Buffer is Buffered(): GetResult rebuilds the same ReadResult from it and these flags.
            _pending.SetResult((byte)((result.IsCanceled ? CanceledFlag : 0) | (result.IsCompleted ? CompletedFlag : 0)));
            return;
        }
    }

    private bool TryTakeCancel(out ReadResult result)
    {
        if (_cancelRequested)
        {
            _cancelRequested = false;
            result = new ReadResult(HandOut(), isCanceled: true, isCompleted: false);
            return true;
        }

        result = default;
        return false;
    }

    /// <summary>Bytes the consumer has not examined yet, or the end of the stream, need no receive.</summary>
    private bool TryReadBuffered(out ReadResult result)
    {
        if (_connection.AbortReason is { } aborted)
        {
            throw aborted;
        }

        if (_unexamined || _endOfStream)
        {
            result = new ReadResult(HandOut(), isCanceled: false, isCompleted: _endOfStream);
            return true;
        }

        result = default;
        return false;
    }

    /// <summary>
    /// One <c>recv</c> if readiness allows. True with a result (data, or the end of the stream), false when the
    /// socket has nothing and the caller must wait; throws when the connection failed or was aborted.
    /// </summary>
    private bool TryReceive(out ReadResult result)
    {
        result = default;
        if (_connection.AbortReason is { } aborted)
        {
            throw aborted;
        }

        if (Interlocked.Exchange(ref _state, NotReady) == NotReady)
        {
            return false; // drained last time and no edge since: nothing to receive
        }

        int room = MakeRoom();
        nint received;
        try
        {
            fixed (byte* destination = &_buffer![_end])
            {
                // MSG_DONTWAIT: never block the epoll thread, even on a descriptor someone made blocking.
                received = Libc.recv(_connection.Socket, destination, (nuint)room, Libc.MSG_DONTWAIT);
            }
        }
        catch (ObjectDisposedException)
        {
            throw _connection.AbortReason ?? new ConnectionAbortedException("The connection was closed.");
        }

        if (received > 0)
        {
            _end += (int)received;
            if (received == room || _peerClosed)
            {
                // The buffer filled up, or the peer has closed: the socket may hold more (or the end of the
                // stream), and no new edge will say so.
                Volatile.Write(ref _state, Ready);
            }

            result = new ReadResult(HandOut(), isCanceled: false, isCompleted: false);
            return true;
        }

        if (received == 0)
        {
            _endOfStream = true;
            result = new ReadResult(HandOut(), isCanceled: false, isCompleted: true);
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == Libc.EAGAIN)
        {
            ReleaseIfEmpty();
            return false;
        }

        if (errno == Libc.EINTR)
        {
            Volatile.Write(ref _state, Ready);
            ReleaseIfEmpty();
            return false;
        }

        throw _connection.AbortReason ?? (Exception)new ConnectionResetException($"recv failed: errno {errno}");
    }

    /// <summary>Room at the end of the buffer for the next receive: rents, compacts or grows as needed.</summary>
    private int MakeRoom()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(ReceiveSize);
        }
        else if (_end == _buffer.Length)
        {
            int kept = _end - _start;
            if (_start > 0 && kept <= _buffer.Length / 2)
            {
                _buffer.AsSpan(_start, kept).CopyTo(_buffer);
            }
            else
            {
                if (_buffer.Length >= MaxBufferedBytes)
                {
                    throw new ConnectionAbortedException($"More than {MaxBufferedBytes} bytes received and not consumed.");
                }

                byte[] larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
                _buffer.AsSpan(_start, kept).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }

            _start = 0;
            _end = kept;
        }

        return _buffer.Length - _end;
    }

    private ReadOnlySequence<byte> Buffered() =>
        _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    private ReadOnlySequence<byte> HandOut()
    {
        _unexamined = false;
        return Buffered();
    }

    private void ReleaseIfEmpty()
    {
        if (_start == _end)
        {
            _start = _end = 0;
            ReturnBuffer();
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        byte flags = _pending.GetResult(token);
        return new ReadResult(Buffered(), isCanceled: (flags & CanceledFlag) != 0, isCompleted: (flags & CompletedFlag) != 0);
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _pending.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _pending.OnCompleted(continuation, state, token, flags);
}
