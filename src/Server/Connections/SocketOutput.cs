using System.Buffers;

namespace FastWs.Server.Connections;

/// <summary>
/// Output straight to the connection's socket, bypassing Kestrel's transport pipe: a frame that nothing is
/// queued ahead of goes to the kernel at once with one non-blocking <c>send</c>, from the caller's buffer,
/// with no copy, no pipe and no send loop in between. Only what the kernel will not take yet is kept, in a
/// pooled buffer, and sent in the background; that backlog is the "unsent output" the slow-consumer rule counts.
/// </summary>
/// <remarks>
/// Why: profiles of the fan-out path showed Kestrel's pipe flush, its send loop and socket event args costing
/// more user-space CPU per delivered message than everything FastWs itself does. The transport still owns the
/// socket (receives, shutdown, dispose); after the upgrade nothing else writes to it, so the order of bytes on
/// the wire is the order they were handed to this class. Only for plain sockets: a connection middleware that
/// wraps the stream (TLS, say) would be bypassed, so such transports use <see cref="PipeOutput"/>.
/// </remarks>
internal sealed class SocketOutput : ConnectionOutput
{
    /// <summary>
    /// Backlog buffers. Deep buckets because a fan-out batch may hold one per subscriber before it flushes,
    /// and the shared pool keeps only a few dozen per size (it would allocate per batch).
    /// </summary>
    private static readonly ArrayPool<byte> s_pool = ArrayPool<byte>.Create(maxArrayLength: 1024 * 1024, maxArraysPerBucket: 16 * 1024);

    private const int InitialBufferSize = 4096;

    private readonly ISocketSender _sender;
    private readonly WebSocketConnection _owner;
    private readonly int _limit;

    // Written and not yet handed to the kernel.
    private byte[]? _pending;
    private int _pendingLength;

    // Handed to the background send that is in flight (only while _sendInFlight).
    private byte[]? _sending;
    private int _sendingOffset;
    private int _sendingLength;

    private bool _sendInFlight;
    private bool _backlogged;
    private bool _failed;
    private bool _released;

    /// <param name="owner">The connection; it locks this object as its write lock, and so does this class.</param>
    public SocketOutput(ISocketSender sender, WebSocketConnection owner, int maxUnsentBytes)
    {
        _sender = sender;
        _owner = owner;
        _limit = maxUnsentBytes;
    }

    /// <summary>Bytes written that the kernel has not taken yet.</summary>
    public int Unsent => _pendingLength + (_sendingLength - _sendingOffset);

    public override void Advance(int count) => _pendingLength += count;

    public override Memory<byte> GetMemory(int sizeHint = 0) => EnsureRoom(sizeHint).AsMemory(_pendingLength);

    public override Span<byte> GetSpan(int sizeHint = 0) => EnsureRoom(sizeHint).AsSpan(_pendingLength);

    public override FlushStatus Flush()
    {
        if (_failed)
        {
            return FlushStatus.Closed;
        }

        if (_pendingLength == 0 || _sendInFlight)
        {
            // Nothing new, or the background send will take what was added after the bytes in flight.
            return Status();
        }

        int sent = SendNow(_pending.AsSpan(0, _pendingLength));
        if (sent < 0)
        {
            return FlushStatus.Closed;
        }

        if (sent == _pendingLength)
        {
            _pendingLength = 0;
            Return(ref _pending);
            return FlushStatus.Sent;
        }

        SendRestInBackground(sent);
        return Status();
    }

    public override bool TrySendThrough(ReadOnlySpan<byte> frame, out FlushStatus status)
    {
        status = FlushStatus.Sent;
        if (_failed)
        {
            status = FlushStatus.Closed;
            return true;
        }

        if (_pendingLength != 0 || _sendInFlight)
        {
            return false;
        }

        int sent = SendNow(frame);
        if (sent < 0)
        {
            status = FlushStatus.Closed;
            return true;
        }

        if (sent < frame.Length)
        {
            // The kernel's buffer is full: keep the rest and send it when there is room.
            frame[sent..].CopyTo(GetSpan(frame.Length - sent));
            Advance(frame.Length - sent);
            SendRestInBackground(0);
            status = Status();
        }

        return true;
    }

    public override void Release()
    {
        _released = true;
        if (!_sendInFlight)
        {
            _pendingLength = 0;
            Return(ref _pending);
        }
    }

    /// <summary>Reports the backlog against the limit; over it, the owner is owed a drained notice.</summary>
    private FlushStatus Status()
    {
        if (Unsent > _limit)
        {
            _backlogged = true;
            return FlushStatus.Backlogged;
        }

        return FlushStatus.Sent;
    }

    /// <summary>One non-blocking send. Returns the bytes the kernel took (0 when its buffer is full), or -1 when the connection is gone.</summary>
    private int SendNow(ReadOnlySpan<byte> bytes)
    {
        int sent = _sender.TrySend(bytes);
        if (sent >= 0)
        {
            return sent;
        }

        _failed = true;
        _pendingLength = 0;
        Return(ref _pending);
        return -1;
    }

    /// <summary>Moves the pending bytes from <paramref name="offset"/> on into the background send.</summary>
    private void SendRestInBackground(int offset)
    {
        _sending = _pending;
        _sendingOffset = offset;
        _sendingLength = _pendingLength;
        _pending = null;
        _pendingLength = 0;
        _sendInFlight = true;
        _ = SendBacklogAsync();
    }

    /// <summary>
    /// Sends the backlog as the peer makes room, then whatever was written meanwhile, until nothing is left;
    /// tells the owner when a backlog over the limit has drained (or the connection failed).
    /// </summary>
    private async Task SendBacklogAsync()
    {
        while (true)
        {
            bool failed = !await _sender.SendAllAsync(_sending.AsMemory(_sendingOffset, _sendingLength - _sendingOffset)).ConfigureAwait(false);

            lock (this)
            {
                Return(ref _sending);
                _sendingOffset = _sendingLength = 0;
                _failed |= failed;
                if (!_failed && !_released && _pendingLength > 0)
                {
                    // Written while the send was in flight: next in line, behind nothing.
                    _sending = _pending;
                    _sendingLength = _pendingLength;
                    _pending = null;
                    _pendingLength = 0;
                    ReportIfDrained();
                    continue;
                }

                _sendInFlight = false;
                if (_failed || _released)
                {
                    _pendingLength = 0;
                    Return(ref _pending);
                }

                ReportIfDrained();
                return;
            }
        }
    }

    /// <summary>Ends congestion once the backlog is down to half the limit (as Kestrel's pipe resumes writers).</summary>
    private void ReportIfDrained()
    {
        if (_backlogged && (_failed || _released || Unsent <= _limit / 2))
        {
            _backlogged = false;
            _owner.OnOutputDrained(_failed);
        }
    }

    private byte[] EnsureRoom(int sizeHint)
    {
        int needed = _pendingLength + Math.Max(sizeHint, 1);
        if (_pending is null)
        {
            _pending = s_pool.Rent(Math.Max(InitialBufferSize, needed));
        }
        else if (_pending.Length < needed)
        {
            byte[] larger = s_pool.Rent(Math.Max(needed, _pending.Length * 2));
            _pending.AsSpan(0, _pendingLength).CopyTo(larger);
            s_pool.Return(_pending);
            _pending = larger;
        }

        return _pending;
    }

    private static void Return(ref byte[]? buffer)
    {
        if (buffer is not null)
        {
            s_pool.Return(buffer);
            buffer = null;
        }
    }
}
