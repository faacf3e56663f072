using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FastWs.Protocol.Compression;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;
using FastWs.Server.Auth;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Limits;
using FastWs.Server.Messages;
using FastWs.Server.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace FastWs.Server.Connections;

/// <summary>What became of a data frame offered to a connection.</summary>
internal enum DataWrite
{
    /// <summary>Not written: the client is over its unsent-output limit.</summary>
    Skipped,

    /// <summary>Not written: the connection is closing.</summary>
    Closed,

    /// <summary>Written; a flush is already due from whoever wrote first.</summary>
    Written,

    /// <summary>Written, and the caller owes the connection a flush.</summary>
    WrittenNeedsFlush,

    /// <summary>Not written: the connection already has these messages (from the replay or snapshot it joined with).</summary>
    Filtered,

    /// <summary>Written and held for the namespace's write delay: the caller schedules its flush (<see cref="WriteCoalescer"/>).</summary>
    WrittenHeld,

    /// <summary>Written and sent at once with what was held: the channel's next message was not expected before the deadline.</summary>
    WrittenFlushedEarly,
}

/// <summary>What the heartbeat check found.</summary>
internal enum HeartbeatState
{
    Waiting,
    PingSent,
    TimedOut,
}

/// <summary>
/// One upgraded client: its output (shared by its own read loop and fan-out), its subscriptions,
/// and its congestion state. Output goes straight to the socket (<see cref="SocketOutput"/>) or, on transports
/// without one, into the transport pipe (<see cref="PipeOutput"/>); either reports when more than the
/// slow-consumer limit is unsent, and data is skipped until it drains.
/// </summary>
public sealed class WebSocketConnection
{
    private static long s_nextId;

    private readonly ConnectionContext _context;
    // Also this connection's write lock (a Monitor on the output object, which its own background sends take
    // too and nothing else locks): no lock object per connection, whose 40 bytes every idle connection would carry.
    private readonly ConnectionOutput _output;
    private readonly ServerMetrics _metrics;

    // All of the following are guarded by the write lock (_output).
    private bool _hasUnflushed;
    private bool _flushQueued;

    // When held data (a namespace with a WriteDelay) is due to be flushed, a TimeProvider timestamp; 0 when none is held.
    private long _heldUntil;

    // Congestion: when the connection went over its unsent-output limit (a Stopwatch timestamp), 0 while it is
    // not. Written under the write lock, read without it by the supervisor, which looks at every connection every
    // tick: taking the lock for that made the fan-out thread wait whenever the sweep was preempted holding it (on
    // one core, the waiter cannot run the holder).
    private long _congestedSince;

    // Data messages and their frame bytes written to this client, for the connections view (ConnectionTraffic): plain
    // adds under the write lock, declared next to _congestedSince, which every delivery reads anyway, so that the runtime
    // lays them out right after it (8-byte fields keep their declaration order: offsets 72, 80, 88 in the object).
    private long _messagesOut;
    private long _bytesOut;
    private bool _outputClosed;
    private bool _closeSent;
    private long _repliesWhileCongested;

    /// <summary>Reply bytes a congested client may accumulate (acks, errors) before it is dropped.</summary>
    private const int MaxRepliesWhileCongested = 256 * 1024;

    private SubscriptionSet? _subscriptions;
    private long _messagesSkipped;

    /// <summary>Publishes of this connection sent to the broker and not yet answered (several nodes only).</summary>
    internal int BrokerPublishesInFlight;

    /// <summary>The confirmation of this connection's last publish through the broker: the next one acks after it.</summary>
    internal Task? LastBrokerConfirmation;

    // Delivery floors and unannounced gaps per channel (guarded by the write lock); null while there are none.
    private StreamMarks? _marks;

    // Heartbeat state, in Environment.TickCount64 milliseconds.
    private long _lastReceivedMs;

    // Data messages and payload bytes received: the read loop's own plain adds, beside the timestamp it writes per read.
    private long _messagesIn;
    private long _bytesIn;

    // Error replies sent: by the read loop and, rarely, the supervisor (token warnings), so an Interlocked add.
    private long _errorsSent;
    private long _lastPingMs;
    private long _pingSentMs;

    // The last ping's Stopwatch timestamp until its pong comes (written by the supervisor, taken by the read loop),
    // and that round trip in Stopwatch ticks (0 until a pong came): for the connections view.
    private long _pingSentTimestamp;
    private long _lastPongRtt;

    /// <summary>An empty ping frame: FIN + opcode 9, length 0.</summary>
    private static ReadOnlySpan<byte> PingFrame => [0x89, 0x00];

    /// <param name="maxUnsentBytes">The slow-consumer limit (for <see cref="SocketOutput"/>; a pipe's pause threshold is its own).</param>
    /// <param name="directSends">Send straight to the socket when the transport exposes one.</param>
    /// <param name="clientIp">The client's address; for an admitted connection the connection limiter's own instance,
    /// shared by every connection from that address (see <see cref="ConnectionLimiter.TryAcquire"/>).</param>
    internal WebSocketConnection(ConnectionContext context, ServerMetrics metrics, IPAddress clientIp,
        int maxUnsentBytes = 64 * 1024, bool directSends = true)
    {
        _context = context;
        ISocketSender? sender = directSends ? DirectSender(context) : null;
        _output = sender is not null ? new SocketOutput(sender, this, maxUnsentBytes)
            : IsTls(context) ? new StreamPipeOutput(context.Transport.Output, this)
            : new PipeOutput(context.Transport.Output, this);
        _metrics = metrics;
        ClientIp = clientIp;
        // The client's address, not the peer's: behind a trusted proxy on this host every peer is loopback, but the
        // clients it forwards are not (else any of them could publish to loopback-only namespaces).
        IsLoopback = IPAddress.IsLoopback(clientIp);
        Id = Interlocked.Increment(ref s_nextId);
        _lastReceivedMs = _lastPingMs = Environment.TickCount64;
        ConnectedAtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    public long Id { get; }

    /// <summary>When the connection was upgraded (Unix milliseconds, UTC).</summary>
    public long ConnectedAtUnixMs { get; }

    /// <summary>Messages and bytes each way and errors sent, read now for the connections view (see <see cref="ConnectionTraffic"/>).</summary>
    internal ConnectionTraffic Traffic => new(Volatile.Read(ref _messagesIn), Volatile.Read(ref _bytesIn), Volatile.Read(ref _messagesOut),
        Volatile.Read(ref _bytesOut), Volatile.Read(ref _errorsSent));

    /// <summary>A data message came from the client (read loop only).</summary>
    internal void CountReceived(int bytes)
    {
        _messagesIn++;
        _bytesIn += bytes;
    }

    /// <summary>An <c>error</c> reply is being sent to the client.</summary>
    internal void CountErrorSent() => Interlocked.Increment(ref _errorsSent);

    /// <summary>
    /// The id told to the client in its <c>connected</c> message and used to send to or close it by id (see
    /// <see cref="ConnectionIds"/>); null once the connection has left the registry (or before it joined).
    /// </summary>
    public string? ConnectionId
    {
        get
        {
            int slot = Volatile.Read(ref RegistrySlot);
            return slot < 0 ? null : ConnectionIds.Format(Id, slot);
        }
    }

    /// <summary>
    /// The connection's socket to send to directly: the epoll transport's own, or Kestrel's socket, but never under
    /// TLS: Kestrel's socket feature is still there, and frames written to it would bypass the encryption.
    /// </summary>
    private static ISocketSender? DirectSender(ConnectionContext context)
    {
        if (context.Features.Get<ISocketSender>() is { } own)
        {
            return own;
        }

        Socket? socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        return socket is null || IsTls(context) ? null : new KestrelSocketSender(socket);
    }

    /// <summary>Whether Kestrel's TLS middleware runs under this connection (the transport pipe is then the decrypted one).</summary>
    private static bool IsTls(ConnectionContext context) => context.Features.Get<ITlsHandshakeFeature>() is not null;

    /// <summary>The TCP peer, read from the transport when asked (it is not kept: idle connections would carry it).</summary>
    public IPAddress? RemoteAddress => (_context.RemoteEndPoint as IPEndPoint)?.Address;

    /// <summary>The client the per-IP limit counts (the peer, or X-Forwarded-For behind a trusted proxy).</summary>
    public IPAddress ClientIp { get; }

    /// <summary>
    /// Whether the client (<see cref="ClientIp"/>) is on this host and not a web page of an unlisted origin: what
    /// <c>Loopback</c> rules check (a page opened in a browser on the server's host is not a feed handler).
    /// </summary>
    public bool IsLoopback { get; private set; }

    /// <summary>Called at upgrade for a request whose Origin is not on the allowed list.</summary>
    internal void DistrustLoopback() => IsLoopback = false;

    /// <summary>Who this connection is, when it has or may still get a token; null for a plain anonymous connection.</summary>
    internal ConnectionAuth? Auth { get; set; }

    /// <summary>The authenticated user, if any.</summary>
    public UserIdentity? User => Auth?.User;

    /// <summary>What access rules look at for this connection.</summary>
    internal Caller Caller => new(IsLoopback, Auth?.User);

    /// <summary>Whether any namespace lets this connection publish; its publishes then count against the publish rate limit.</summary>
    internal bool CanPublish { get; set; }

    /// <summary>
    /// What the upgrade agreed for permessage-deflate (<c>default</c>: not negotiated). The reader inflates with it;
    /// fan-out sends it the compressed variant of each run (made once per message for every such subscriber, which
    /// <c>server_no_context_takeover</c> allows).
    /// </summary>
    internal DeflateParameters Deflate { get; set; }

    /// <summary>The general per-connection message limit (read loop only).</summary>
    internal SlidingWindowCounter MessageRate;

    /// <summary>The separate limit for publishes from publishing connections (read loop only).</summary>
    internal SlidingWindowCounter PublishRate;

    /// <summary>rate_limited errors sent so far (read loop only).</summary>
    internal int RateLimitErrors;

    /// <summary>This connection's slot in the <see cref="ConnectionRegistry"/> (-1 when not registered; set under its lock).</summary>
    internal int RegistrySlot = -1;

    /// <summary>Notes that a frame arrived: any frame counts as a sign of life for the heartbeat.</summary>
    internal void MarkReceived() => Volatile.Write(ref _lastReceivedMs, Environment.TickCount64);

    /// <summary>
    /// Called by the supervisor's tick: pings when the interval has passed, and reports a connection that sent
    /// nothing at all within <paramref name="timeoutMs"/> of the last ping. Only the supervisor calls it.
    /// </summary>
    internal HeartbeatState CheckHeartbeat(long nowMs, long intervalMs, long timeoutMs)
    {
        if (_pingSentMs != 0)
        {
            if (Volatile.Read(ref _lastReceivedMs) >= _pingSentMs)
            {
                _pingSentMs = 0;
            }
            else
            {
                return nowMs - _pingSentMs >= timeoutMs ? HeartbeatState.TimedOut : HeartbeatState.Waiting;
            }
        }

        if (nowMs - _lastPingMs < intervalMs)
        {
            return HeartbeatState.Waiting;
        }

        _lastPingMs = _pingSentMs = nowMs;
        Volatile.Write(ref _pingSentTimestamp, Stopwatch.GetTimestamp());
        WriteControl(PingFrame);
        Flush();
        return HeartbeatState.PingSent;
    }

    /// <summary>A pong frame came (read loop): the round trip of the ping it answers, if one is outstanding.</summary>
    internal void OnPong()
    {
        long sent = Interlocked.Exchange(ref _pingSentTimestamp, 0);
        if (sent != 0)
        {
            Volatile.Write(ref _lastPongRtt, Stopwatch.GetTimestamp() - sent);
        }
    }

    /// <summary>The round trip of the last ping this server sent and the client answered; null before the first answer.</summary>
    public TimeSpan? LastPongRoundTrip
    {
        get
        {
            long rtt = Volatile.Read(ref _lastPongRtt);
            return rtt == 0 ? null : Stopwatch.GetElapsedTime(0, rtt);
        }
    }

    /// <summary>
    /// How long the last ping this server sent has gone unanswered (by any frame, as the heartbeat counts it); zero when
    /// none is outstanding. Read by the connections view, without the supervisor's ownership of the heartbeat state.
    /// </summary>
    internal TimeSpan PingUnansweredFor
    {
        get
        {
            long sentMs = Volatile.Read(ref _pingSentMs);
            return sentMs == 0 || Volatile.Read(ref _lastReceivedMs) >= sentMs ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Environment.TickCount64 - sentMs);
        }
    }

    /// <summary>Data messages skipped because this client was over its unsent-output limit.</summary>
    public long MessagesSkipped => Volatile.Read(ref _messagesSkipped);

    /// <summary>Number of channels this connection is subscribed to.</summary>
    public int SubscriptionCount => _subscriptions?.Count ?? 0;

    /// <summary>The close handshake's state, created when the first close frame is sent or received (idle connections carry none).</summary>
    internal CloseHandshake Close => _close ?? LazyInitializer.EnsureInitialized(ref _close);

    private CloseHandshake? _close;

    /// <summary>Whether we have sent our close frame (no state is created to answer no).</summary>
    internal bool CloseSent => _close is { CloseSent: true };

    /// <summary>The code that ended the connection: whoever closed first, or 1006 when nobody sent a close frame.</summary>
    internal ushort FinalCloseCode => _close?.Initiator switch
    {
        CloseInitiator.Local => _close.SentCode,
        CloseInitiator.Remote => _close.ReceivedCode,
        _ => CloseCode.AbnormalClosure,
    };

    /// <summary>
    /// Output the kernel has not taken yet (the backlog the slow-consumer rule counts), read without the write lock, so
    /// a moment old. Null on a pipe output (TLS, <c>DirectSends=false</c>): what waits in the transport pipe is not visible.
    /// </summary>
    public int? UnsentBytes => _output is SocketOutput socket ? Math.Max(0, socket.Unsent) : null;

    /// <summary>True while a flush is waiting for the client to drain its backlog.</summary>
    public bool IsCongested => Volatile.Read(ref _congestedSince) != 0;

    /// <summary>How long the connection has been over the limit; zero when it is not.</summary>
    internal TimeSpan CongestedFor
    {
        get
        {
            long since = Volatile.Read(ref _congestedSince);
            return since == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(since);
        }
    }

    /// <summary>
    /// Called by fan-out with a run of <paramref name="channel"/>'s complete data frames (one message's, or several
    /// back to back). Skips them while the client is congested, remembering the gap for a <c>gap</c> notice before
    /// the channel's next message; leaves out what the client already got in its replay or snapshot (see
    /// <see cref="StreamJoin"/>). <see cref="DataWrite.WrittenNeedsFlush"/> tells the caller to flush this connection
    /// once its batch is done.
    /// </summary>
    /// <param name="sendThrough">
    /// True when nothing later in the fan-out batch is for this connection: where nothing is queued ahead of them
    /// the frames go to the socket at once, without a copy and without a flush owed.
    /// </param>
    /// <param name="deflated">Send the run's permessage-deflate variant (<see cref="FrameRun.DeflatedFor"/> said this connection takes it).</param>
    /// <param name="holdUntil">
    /// 0, or for a namespace with a write delay when the delay of frames held now ends: the frames are then kept in the
    /// output (never sent through) until that deadline or the connection's next flush, whichever comes first.
    /// </param>
    internal DataWrite WriteData(Channel channel, scoped in FrameRun run, bool deflated, bool sendThrough, long holdUntil = 0, long flushHorizon = 0)
    {
        lock (_output)
        {
            long first = run.FirstSequence;
            long last = run.LastSequence;
            long gapFrom = 0, gapTo = 0;
            if (_marks is { IsEmpty: false } marks
                && !marks.Prepare(channel, ref first, last, takeGap: _congestedSince == 0, out gapFrom, out gapTo))
            {
                return DataWrite.Filtered;
            }

            if (_congestedSince != 0)
            {
                long skipped = last - first + 1;
                _messagesSkipped += skipped;
                _metrics.Skipped(skipped);
                (_marks ??= new StreamMarks()).AddGap(channel, first, last);
                return DataWrite.Skipped;
            }

            if (_outputClosed || _closeSent)
            {
                return DataWrite.Closed;
            }

            if (gapTo != 0)
            {
                _metrics.GapNotified();
                _output.Write(ReplyEncoder.Gap(channel.Name, gapFrom, gapTo));
                _hasUnflushed = true;
            }

            // A subscriber that joined mid-run starts part-way, in whichever variant it takes.
            ReadOnlySpan<byte> frames = run.From(first, deflated);
            _messagesOut += last - first + 1;
            _bytesOut += frames.Length;
            return holdUntil == 0 ? WriteLocked(frames, sendThrough) : HoldLocked(frames, holdUntil, flushHorizon, sendThrough);
        }
    }

    /// <summary>
    /// Appends frames of a namespace with a write delay. The first held frames set the deadline and ask the caller to
    /// schedule the flush; later ones (within the delay) join them. When a flush is owed already (a write without
    /// delay earlier in this fan-out batch) or scheduled, they go with it. When the held deadline falls before
    /// <paramref name="flushHorizon"/> (the channel's next message is not expected before it: see
    /// <see cref="FanOut.WriteCoalescer.Horizon"/>), everything held leaves with these frames: now, when nothing more
    /// of this batch is for this connection (<paramref name="sendThrough"/>), else at the end of the batch.
    /// </summary>
    private DataWrite HoldLocked(ReadOnlySpan<byte> frames, long holdUntil, long flushHorizon, bool sendThrough)
    {
        _output.Write(frames);
        _hasUnflushed = true;
        if (_flushQueued)
        {
            return DataWrite.Written;
        }

        if (_heldUntil != 0)
        {
            if (_heldUntil > flushHorizon)
            {
                return DataWrite.Written;
            }

            if (sendThrough)
            {
                FlushLocked();
                return DataWrite.WrittenFlushedEarly;
            }

            _flushQueued = true;
            return DataWrite.WrittenNeedsFlush;
        }

        _heldUntil = holdUntil;
        return DataWrite.WrittenHeld;
    }

    /// <summary>
    /// The write coalescer's timer: flushes what this connection held for a deadline of <paramref name="due"/> or
    /// earlier. An entry made stale by a flush since (the held bytes went with it) finds nothing held, or a later
    /// deadline that has an entry of its own, and does nothing (returns false).
    /// </summary>
    internal bool FlushHeld(long due)
    {
        lock (_output)
        {
            if (_heldUntil != 0 && _heldUntil <= due)
            {
                FlushLocked();
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// A data frame for this connection alone (sent to it by id): skipped while the client is congested, like
    /// channel data, but with no channel, no number and so no gap notice.
    /// </summary>
    internal DataWrite WriteDirect(ReadOnlySpan<byte> frame, bool sendThrough = true)
    {
        lock (_output)
        {
            if (_congestedSince != 0)
            {
                _messagesSkipped++;
                _metrics.Skipped(1);
                return DataWrite.Skipped;
            }

            if (_outputClosed || _closeSent)
            {
                return DataWrite.Closed;
            }

            _messagesOut++;
            _bytesOut += frame.Length;
            return WriteLocked(frame, sendThrough);
        }
    }

    /// <summary>Sends the frames straight through where nothing is queued ahead, else appends them for the next flush.</summary>
    private DataWrite WriteLocked(ReadOnlySpan<byte> frames, bool sendThrough)
    {
        if (sendThrough && !_hasUnflushed && _output.TrySendThrough(frames, out FlushStatus status))
        {
            Apply(status);
            return DataWrite.Written;
        }

        _output.Write(frames);
        _hasUnflushed = true;
        if (_flushQueued)
        {
            return DataWrite.Written;
        }

        _flushQueued = true;
        return DataWrite.WrittenNeedsFlush;
    }

    /// <summary>
    /// Messages of <paramref name="channel"/> up to <paramref name="floor"/> are not to be sent to this connection: it
    /// has them from its replay or snapshot. Called with the output held (<see cref="HoldOutput"/>) while it joins.
    /// </summary>
    internal void SetDeliveryFloor(Channel channel, long floor)
    {
        lock (_output)
        {
            (_marks ??= new StreamMarks()).SetFloor(channel, floor);
        }
    }

    /// <summary>
    /// The channel's stream broke for this subscriber (a broker restarted the channel's epoch, or lost messages): a
    /// <c>gap</c> notice from <paramref name="from"/> to <paramref name="to"/> (<see cref="StreamMarks.UnknownEnd"/>:
    /// <c>null</c>) goes before its next message there, so the client recovers with <c>since</c>. Called by the
    /// delivering thread, in order with the channel's runs.
    /// </summary>
    internal void BreakStream(Channel channel, long from, long to)
    {
        lock (_output)
        {
            (_marks ??= new StreamMarks()).Break(channel, from, to);
        }
    }

    /// <summary>Forgets what was remembered for <paramref name="channel"/> (the connection left it).</summary>
    internal void ForgetStream(Channel channel)
    {
        if (_marks is null)
        {
            return;
        }

        lock (_output)
        {
            _marks.Remove(channel);
        }
    }

    /// <summary>
    /// Writes the 101 response. It goes through the connection (not straight into the pipe) so that the next
    /// flush sends it: a client waiting for its 101 sends nothing else to trigger one.
    /// </summary>
    internal void WriteAccept(string key, string? subProtocol = null, DeflateParameters deflate = default)
    {
        Deflate = deflate;
        lock (_output)
        {
            HandshakeResponse.WriteAccept(_output, key, subProtocol, deflate.ToResponseHeader());
            _hasUnflushed = true;
        }
    }

    /// <summary>Writes a reply or control frame; these are never skipped. The caller flushes.</summary>
    internal void WriteControl(ReadOnlySpan<byte> frame)
    {
        lock (_output)
        {
            if (_outputClosed || _closeSent)
            {
                return;
            }

            if (_congestedSince != 0)
            {
                // Replies are never skipped, but a client that keeps asking while not reading must not grow our
                // buffer without bound: past a hard cap it is dropped.
                _repliesWhileCongested += frame.Length;
                if (_repliesWhileCongested > MaxRepliesWhileCongested)
                {
                    _outputClosed = true;
                    _context.Abort(new ConnectionAbortedException("Reply backlog over limit while not reading"));
                    return;
                }
            }

            _output.Write(frame);
            _hasUnflushed = true;
        }
    }

    /// <summary>
    /// Answers a ping frame. While the client is over its unsent-output limit the pong is dropped: RFC 6455 5.5.3
    /// lets an endpoint answer only the most recent of several pings, and a client that is not reading will not
    /// miss it, while a ping flood from a client that does not read can then not grow our buffers.
    /// </summary>
    internal void WritePong(ReadOnlySpan<byte> pongFrame)
    {
        lock (_output)
        {
            if (_congestedSince != 0)
            {
                return;
            }

            WriteControl(pongFrame);
        }
    }

    /// <summary>
    /// Sends a close frame unless one was already sent, and flushes. After it no other frame is written.
    /// Returns false when a close had already gone out.
    /// </summary>
    internal bool TrySendClose(ushort code, string reason)
    {
        lock (_output)
        {
            if (_closeSent || !Close.TryStartLocalClose(code, reason))
            {
                return false;
            }

            if (!_outputClosed)
            {
                FrameWriter.WriteClose(_output, code, reason);
                _hasUnflushed = true;
            }

            _closeSent = true;
            _close!.LocalCloseSentAt = Environment.TickCount64;
            FlushLocked();
            return true;
        }
    }

    /// <summary>
    /// Whether this side's close frame has gone unanswered for <paramref name="timeoutMs"/> (Environment.TickCount64
    /// milliseconds): the supervisor then drops the connection, so a client that ignores a close (4002, a close by id)
    /// does not hold its resources until the heartbeat notices.
    /// </summary>
    internal bool CloseUnansweredFor(long nowMs, long timeoutMs) =>
        _close is { Initiator: CloseInitiator.Local, CloseReceived: false, LocalCloseSentAt: > 0 } close && nowMs - close.LocalCloseSentAt >= timeoutMs;

    /// <summary>Records the peer's close frame and sends the echo if this side had not closed yet.</summary>
    internal void OnRemoteClose(ushort code, string reason)
    {
        lock (_output)
        {
            CloseResponse response = Close.OnRemoteClose(code, reason);
            if (response.SendClose && !_closeSent && !_outputClosed)
            {
                FrameWriter.WriteClose(_output, response.Code, string.Empty);
                _hasUnflushed = true;
                _closeSent = true;
                FlushLocked();
            }
        }
    }

    /// <summary>
    /// Holds this connection's output while a subscribe request is applied and acknowledged: a fan-out delivery that
    /// already sees the new subscription waits, so the client gets the ack before the channel's first message.
    /// The lock is re-entrant, so replies written inside the scope are fine.
    /// </summary>
    internal OutputHold HoldOutput() => new(_output);

    /// <summary>The write lock held for a <c>using</c> block (see <see cref="HoldOutput"/>).</summary>
    internal readonly ref struct OutputHold
    {
        private readonly object _lock;

        public OutputHold(object writeLock)
        {
            _lock = writeLock;
            Monitor.Enter(_lock);
        }

        public void Dispose() => Monitor.Exit(_lock);
    }

    /// <summary>Pushes written frames to the transport.</summary>
    internal void Flush()
    {
        lock (_output)
        {
            FlushLocked();
        }
    }

    /// <summary>
    /// Called as the connection's handler ends, after its last own write: Kestrel completes the transport's writer
    /// once the handler returns, and fan-out, the supervisor or shutdown may still hold this connection, so
    /// from now on every write must be dropped instead of hitting a completed writer (which throws).
    /// </summary>
    internal void MarkEnded()
    {
        lock (_output)
        {
            _outputClosed = true;
            _output.Release();
        }
    }

    /// <summary>Drops the TCP connection at once (no close handshake).</summary>
    internal void Abort(string reason)
    {
        lock (_output)
        {
            _outputClosed = true;
        }

        _context.Abort(new ConnectionAbortedException(reason));
    }

    /// <summary>This connection's subscriptions, created on first use so idle connections stay small.</summary>
    internal SubscriptionSet Subscriptions => _subscriptions ??= new SubscriptionSet();

    /// <summary>The subscriptions without creating them (null when there were none yet, or the connection ended).</summary>
    internal SubscriptionSet? SubscriptionsIfAny => Volatile.Read(ref _subscriptions);

    internal bool HasSubscriptions => _subscriptions is not null && _subscriptions.Count > 0;

    /// <summary>
    /// True when the connection is subscribed to exactly one channel. The fan-out thread reads it without the read
    /// loop's ownership of the set: an answer made stale by a subscribe racing with it only costs a socket write
    /// that could have been shared, never order, because a direct send never overtakes bytes already queued.
    /// </summary>
    internal bool HasOneSubscription => _subscriptions is { Count: 1 };

    /// <summary>Takes every subscription away (used when the connection ends).</summary>
    internal SubscriptionSet? DetachSubscriptions()
    {
        SubscriptionSet? all = _subscriptions;
        _subscriptions = null;
        return all;
    }

    private void FlushLocked()
    {
        _flushQueued = false;
        _heldUntil = 0;
        if (!_hasUnflushed || _congestedSince != 0 || _outputClosed)
        {
            return;
        }

        _hasUnflushed = false;
        Apply(_output.Flush());
    }

    private void Apply(FlushStatus status)
    {
        if (status == FlushStatus.Closed)
        {
            _outputClosed = true;
        }
        else if (status == FlushStatus.Backlogged)
        {
            // Everything written is kept and goes out as the client drains; data is skipped until then.
            Volatile.Write(ref _congestedSince, Math.Max(1, Stopwatch.GetTimestamp()));
        }
    }

    /// <summary>Called by the output, under the write lock, once a backlog reported by a flush has drained.</summary>
    internal void OnOutputDrained(bool closed)
    {
        Volatile.Write(ref _congestedSince, 0);
        _repliesWhileCongested = 0;
        _outputClosed |= closed;
        // Control frames written while congested were left unflushed; send them now.
        FlushLocked();
    }
}
