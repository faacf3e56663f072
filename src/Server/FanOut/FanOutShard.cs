using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;
using ChannelState = FastWs.Server.Channels.Channel;

namespace FastWs.Server.FanOut;

/// <summary>
/// A message waiting for fan-out: the channel and the published JSON in a buffer rented from <see cref="DataPool"/>;
/// <paramref name="QueuedAt"/> is the <see cref="System.Diagnostics.Stopwatch"/> timestamp of its entry into the queue
/// for the latency histograms, or 0 when none was taken (no listener: see <see cref="ServerHistograms"/>).
/// With a broker (several nodes), <paramref name="Sequence"/> and <paramref name="Epoch"/> are the number the broker
/// gave the message (0 and null on a single node, which numbers as it delivers); a message with null
/// <paramref name="Data"/> is a broker's marker that the channel's stream restarted in <paramref name="Epoch"/>.
/// </summary>
internal readonly record struct PendingMessage(ChannelState Channel, byte[] Data, int Length, long QueuedAt = 0, long Sequence = 0, string? Epoch = null)
{
    /// <summary>
    /// Buffers for queued message data. The shared pool keeps only a few dozen arrays per size, so while messages
    /// queue up behind a busy fan-out shard it would allocate one per publish; this pool keeps enough for a deep backlog.
    /// </summary>
    public static ArrayPool<byte> DataPool { get; } = ArrayPool<byte>.Create(maxArrayLength: 1024 * 1024, maxArraysPerBucket: 4096);
}

/// <summary>
/// One fan-out queue and its delivery: THE hot path. Published messages are delivered in order, each numbered
/// within its channel, encoded once into a complete frame, and those same bytes go to every subscriber.
/// </summary>
/// <remarks>
/// <para>
/// Channels are spread over shards by name, and at most one thread delivers a shard's messages at a time, so each
/// channel's messages keep their sequence order without locks. There is no thread of its own: whoever queues a
/// message and finds nobody delivering (a publisher's read loop, the HTTP endpoint, an embedding host) delivers
/// it at once on its own thread, so a message reaches the sockets without a hop to another thread and the wake-up
/// that costs. A publisher's read loop queues every publish of one read first and then delivers them together
/// (<see cref="MessagePublisher.DeliverQueued"/>), which is where batching comes from.
/// </para>
/// <para>
/// Batching is natural, not timed: whoever delivers drains whatever is queued, up to 64 messages at a time.
/// Consecutive messages of one channel in the batch are encoded back to back into one run of frames, and each
/// subscriber gets the whole run in one write. A run goes straight from the encoder to a subscriber's socket
/// (no copy, no flush list) when nothing later in the batch is for that subscriber: the batch's last run, and a
/// run holding its channel's last message of the batch for a subscriber of that one channel only. Every other
/// write is copied into the connection's output and flushed after the batch, so that subscriber's messages
/// share one socket write. At light load a batch is one message and goes out at once; under load there are
/// fewer writes, copies and wake-ups per message, with no added delay, and a message is not held back behind
/// the sends of later messages on other channels.
/// </para>
/// <para>
/// A publishing thread does at most FanOutInlineDeliveryBudget (2,048) subscriber writes itself; the rest, and any
/// message for a channel bigger than that, goes to a thread-pool thread. A publisher's read loop runs on the
/// socket engine's thread, which serves every connection's reads, so it must never be held up for long by a big
/// channel or by other publishers' messages.
/// </para>
/// </remarks>
internal sealed class FanOutShard : IThreadPoolWorkItem, IAsyncDisposable
{
    /// <summary>Flush at least this often under sustained load so the first message of a batch is not held back.</summary>
    private const int MaxMessagesPerBatch = DataFrameEncoder.MaxMessages;

    /// <summary>A run of one channel's frames stops growing at this size, so that one write to a subscriber stays moderate.</summary>
    private const int MaxRunBytes = 64 * 1024;

    /// <summary>Subscriber writes a thread-pool turn does before it lets other queued work run (it always makes progress).</summary>
    private const int PoolDeliveryBudget = 64 * 1024;

    /// <summary>Which of a message's writes may go straight to the socket (the rest wait for the batch's flush).</summary>
    private enum SendThrough
    {
        /// <summary>None: a later run of the batch is on the same channel, so every subscriber gets more.</summary>
        Never,

        /// <summary>Those to subscribers of this one channel only: a later run of the batch may be for the others.</summary>
        ToSingleChannelSubscribers,

        /// <summary>All: nothing follows in the batch.</summary>
        Always,
    }

    /// <summary>What <see cref="TryTake"/> found at the head of the queue.</summary>
    private enum Take
    {
        Taken,
        Empty,
        OverBudget,
    }

    private readonly Channel<PendingMessage> _queue;
    private readonly ServerMetrics _metrics;
    private readonly DataFrameEncoder _encoder = new();
    private readonly IChannelLog _log;
    private readonly List<WebSocketConnection> _toFlush = new(256);

    /// <summary>Holds the writes of namespaces with a <c>WriteDelay</c> (null: none has one, as in benchmarks and tests that build a shard alone).</summary>
    private readonly WriteCoalescer? _coalescer;

    /// <summary>Subscribers of the current run that started holding data: scheduled with the coalescer in one call after the run.</summary>
    private readonly List<WebSocketConnection> _toHold = new(256);

    /// <summary>Held connections whose delay ended, flushed by this shard after a batch (see <see cref="WriteCoalescer.FlushDue"/>).</summary>
    private readonly List<(WebSocketConnection Connection, long Due)> _dueHeld = new(256);

    /// <summary>Held connections a run of this batch sends the held bytes of (see <see cref="WriteCoalescer.Horizon"/>): checked after the batch.</summary>
    private readonly List<(WebSocketConnection Connection, long Due)> _leavingHeld = new(256);

    /// <summary>The batch being delivered, taken whole first so that each message's channel knows whether it comes again.</summary>
    private readonly PendingMessage[] _batch = new PendingMessage[MaxMessagesPerBatch];

    /// <summary>The batch's queue timestamps (<see cref="PendingMessage.QueuedAt"/>), kept while the histograms are on: the batch's slots are cleared as runs are encoded.</summary>
    private readonly long[] _queuedAt = new long[MaxMessagesPerBatch];

    /// <summary>Fan-out time and publish-to-socket delay, recorded per message (never per subscriber); null in tests that need none.</summary>
    private readonly ServerHistograms? _histograms;

    /// <summary>Messages queued and not yet taken for delivery: counted before the write, so never too low (a cheap "anything to do?").</summary>
    private int _queued;

    /// <summary>1 while a thread delivers this shard's messages; only that thread touches the encoder and flush list.</summary>
    private int _delivering;

    /// <summary>Subscriber writes a publishing thread does itself (default 2,048: a millisecond or two of sends).</summary>
    private readonly int _inlineDeliveryBudget;

    public FanOutShard(int capacity, ServerMetrics metrics, int inlineDeliveryBudget = FastWsOptions.DefaultFanOutInlineDeliveryBudget, IChannelLog? log = null,
        ServerHistograms? histograms = null, WriteCoalescer? coalescer = null)
    {
        _metrics = metrics;
        _coalescer = coalescer;
        _histograms = histograms;
        _log = log ?? LocalChannelLog.Instance;
        _inlineDeliveryBudget = inlineDeliveryBudget;
        _queue = System.Threading.Channels.Channel.CreateBounded<PendingMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
    }

    public int QueueLength => Math.Max(0, Volatile.Read(ref _queued));

    /// <summary>
    /// Queues a message. With <paramref name="deliverNow"/> it is delivered before this returns unless another
    /// thread is delivering (which then takes it too); otherwise the caller must call <see cref="Deliver()"/> soon.
    /// Waits (asynchronously) only when the queue is full, which pushes back on the publisher.
    /// </summary>
    public ValueTask EnqueueAsync(PendingMessage message, bool deliverNow, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _queued);
        if (_queue.Writer.TryWrite(message))
        {
            if (deliverNow)
            {
                Deliver();
            }

            return ValueTask.CompletedTask;
        }

        // Full, perhaps with this caller's own deferred messages: deliver them before waiting for room.
        Deliver();
        if (_queue.Writer.TryWrite(message))
        {
            Deliver();
            return ValueTask.CompletedTask;
        }

        return WaitForRoomAsync(message, cancellationToken);
    }

    /// <summary>
    /// Queues a message without waiting and without delivering (the caller calls <see cref="Deliver()"/> after
    /// releasing its locks); false when the queue is full. Conflation uses it under its per-channel lock, which keeps
    /// a channel's conflated messages in order.
    /// </summary>
    public bool TryEnqueue(PendingMessage message)
    {
        Interlocked.Increment(ref _queued);
        if (_queue.Writer.TryWrite(message))
        {
            return true;
        }

        Interlocked.Decrement(ref _queued);
        return false;
    }

    /// <summary>Delivers what is queued on this thread, unless another thread is delivering already (it then carries on).</summary>
    public void Deliver()
    {
        if (Volatile.Read(ref _queued) > 0 && Interlocked.CompareExchange(ref _delivering, 1, 0) == 0)
        {
            DeliverWhileOwner(_inlineDeliveryBudget, mustProgress: false);
        }
    }

    /// <summary>True while a thread delivers this shard's queue (it calls <see cref="WriteCoalescer.FlushDue"/> after each batch).</summary>
    internal bool IsDelivering => Volatile.Read(ref _delivering) != 0;

    /// <summary>Stops taking messages; <see cref="WhenDeliveredAsync"/> then delivers what is left.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>Delivers everything queued and waits until no thread is delivering any more.</summary>
    public async Task WhenDeliveredAsync()
    {
        while (true)
        {
            Deliver();
            if (Volatile.Read(ref _queued) <= 0 && Volatile.Read(ref _delivering) == 0)
            {
                return;
            }

            await Task.Delay(1).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Complete();
        await WhenDeliveredAsync().ConfigureAwait(false);
        _encoder.Dispose();
    }

    /// <summary>
    /// Benchmark/test hook: fans one message out on the calling thread exactly as a batch of one is delivered.
    /// Only for a shard nothing else publishes to.
    /// </summary>
    internal void DeliverNow(PendingMessage message)
    {
        message.Channel.LastIndexInBatch = 0;
        _batch[0] = message;
        DeliverTaken(1);
    }

    /// <summary>The thread pool carries on a turn that ran out of budget.</summary>
    void IThreadPoolWorkItem.Execute() => DeliverWhileOwner(PoolDeliveryBudget, mustProgress: true);

    /// <summary>Runs with <see cref="_delivering"/> held; releases it, or hands it to a thread-pool thread.</summary>
    private void DeliverWhileOwner(int budget, bool mustProgress)
    {
        while (true)
        {
            if (!DeliverBatches(budget, mustProgress))
            {
                // Still busy: a pool thread continues (holding the flag) so this caller gets back to its own work.
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }

            // A full fence, then a last look: a message written while we delivered, whose publisher then found the
            // flag taken, is ours to deliver. Look at written messages, not the count: a message counted but not yet
            // written (perhaps by this very thread, about to wait for room) is delivered by its publisher's own call.
            Interlocked.Exchange(ref _delivering, 0);
            if (Volatile.Read(ref _queued) <= 0 || !_queue.Reader.TryPeek(out _) || Interlocked.CompareExchange(ref _delivering, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Delivers whole batches until the queue is empty (true) or the budget of subscriber writes would be exceeded
    /// with messages left (false). With <paramref name="mustProgress"/> the first message is taken whatever its size.
    /// </summary>
    private bool DeliverBatches(int budget, bool mustProgress)
    {
        int spent = 0;
        while (true)
        {
            // Take the batch first: each channel's last message in it is known before anything is sent.
            int count = 0;
            Take take;
            while ((take = TryTake(spent == 0 && mustProgress ? int.MaxValue : budget - spent, out PendingMessage message)) == Take.Taken)
            {
                spent += message.Channel.SubscriberCount;
                message.Channel.LastIndexInBatch = count;
                _batch[count++] = message;
                if (count == MaxMessagesPerBatch)
                {
                    break;
                }
            }

            if (count == 0)
            {
                return take == Take.Empty;
            }

            DeliverTaken(count);
        }
    }

    /// <summary>Takes the head of the queue if its channel has at most <paramref name="room"/> subscribers. Only the delivering thread calls it.</summary>
    private Take TryTake(int room, out PendingMessage message)
    {
        ChannelReader<PendingMessage> reader = _queue.Reader;
        if (!reader.TryPeek(out message))
        {
            return Take.Empty;
        }

        if (message.Channel.SubscriberCount > room || !reader.TryRead(out message))
        {
            return Take.OverBudget;
        }

        Interlocked.Decrement(ref _queued);
        return Take.Taken;
    }

    private async ValueTask WaitForRoomAsync(PendingMessage message, CancellationToken cancellationToken)
    {
        try
        {
            // Room appears as whoever delivers takes messages; the message already counts as queued.
            await _queue.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Decrement(ref _queued);
            throw;
        }

        Deliver();
    }


    /// <summary>
    /// Delivers the first <paramref name="count"/> messages of <see cref="_batch"/> run by run, then flushes every
    /// connection that was written to without a send.
    /// </summary>
    private void DeliverTaken(int count)
    {
        // One bool read per batch while nobody listens; with a listener the batch's queue timestamps are kept, one
        // timestamp is taken per run (before its first write) and one per batch (after the flush).
        ServerHistograms? timing = _histograms is { Timing: true } ? _histograms : null;
        if (timing is not null)
        {
            for (int i = 0; i < count; i++)
            {
                _queuedAt[i] = _batch[i].QueuedAt;
            }
        }

        int next = 0;
        while (next < count)
        {
            ChannelState channel = _batch[next].Channel;
            int first = next;
            try
            {
                EncodeRun(channel, ref next, count);
                if (timing is not null)
                {
                    long now = Stopwatch.GetTimestamp();
                    for (int i = first; i < next; i++)
                    {
                        timing.PublishDelay(_queuedAt[i], now);
                    }
                }

                SendThrough sendThrough = next == count ? SendThrough.Always
                    : channel.LastIndexInBatch < next ? SendThrough.ToSingleChannelSubscribers
                    : SendThrough.Never;
                DeliverRun(channel, sendThrough);
            }
#pragma warning disable CA1031 // One bad delivery must not stop every channel on this shard.
            catch (Exception)
#pragma warning restore CA1031
            {
                _metrics.FanOutFailed();
            }
        }

        FlushTouchedConnections();
        if (_coalescer is not null)
        {
            _coalescer.FlushLeaving(_leavingHeld);
            _coalescer.FlushDue(_dueHeld);
        }
        if (timing is not null)
        {
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                timing.FanOut(_queuedAt[i], now);
            }
        }
    }

    /// <summary>
    /// Numbers the messages of <paramref name="channel"/> from <paramref name="next"/> on (through the channel log,
    /// which also keeps them in the channel's history), up to the first message of another channel or
    /// <see cref="MaxRunBytes"/>, and encodes them. Gives back the data buffers the history
    /// did not keep. Moves <paramref name="next"/> past every message it took, even if encoding one fails. Returns
    /// the messages in the run.
    /// </summary>
    private int EncodeRun(ChannelState channel, ref int next, int count)
    {
        // A compressed variant of the run is made only when someone on the channel can use it: the count is read
        // once per run (a deflate subscriber joining after this gets the plain frames, as RFC 7692 allows).
        NamespaceOptions settings = channel.Settings;
        _encoder.Clear(settings.Compression && Volatile.Read(ref channel.DeflateSubscribers) > 0
            ? settings.CompressionThreshold
            : DataFrameEncoder.NoDeflate);
        long nowMs = Environment.TickCount64;
        int messages = 0;
        do
        {
            PendingMessage message = _batch[next];
            _batch[next] = default;
            next++;
            if (message.Data is null)
            {
                // A broker's epoch marker: the log restarts the channel's numbering; nothing to encode.
                _log.Restart(channel, in message);
                continue;
            }

            bool kept = false;
            try
            {
                // Encoded even when nobody is subscribed right now: a subscriber joining between here and the walk
                // below read a position before this number and is owed the message live (see StreamJoin).
                long sequence = _log.Record(channel, in message, nowMs, out kept);
                _encoder.Append(channel, sequence, message.Data.AsSpan(0, message.Length));

                messages++;
            }
            finally
            {
                if (!kept)
                {
                    PendingMessage.DataPool.Return(message.Data);
                }
            }
        }
        while (next < count && ReferenceEquals(_batch[next].Channel, channel) && _encoder.RunLength < MaxRunBytes);

        return messages;
    }

    /// <summary>
    /// Writes the encoded run to every subscriber of <paramref name="channel"/>: the same bytes to each, the plain
    /// frames or, to those that negotiated permessage-deflate, the compressed ones (see <see cref="FrameRun.DeflatedFor"/>).
    /// </summary>
    private void DeliverRun(ChannelState channel, SendThrough sendThrough)
    {
        // The numbers must be visible before the subscribers are read: a subscriber joining now either sees them
        // (and gets these messages in its replay or snapshot) or is seen here (and gets them live); see StreamJoin.
        Interlocked.MemoryBarrier();
        FrameRun run = _encoder.Run;
        if (run.Messages > 0)
        {
            int delivered = 0, flushedEarly = 0;
            long bytes = 0;
            // A namespace with a write delay: the run is held in each subscriber's output until the delay after its
            // first held message ends (see WriteCoalescer). Without one (the default) nothing below changes.
            TimeSpan writeDelay = channel.Settings.WriteDelay;
            long holdUntil = 0, flushHorizon = 0;
            if (writeDelay > TimeSpan.Zero && _coalescer is not null)
            {
                flushHorizon = _coalescer.Horizon(channel, writeDelay, _leavingHeld, out holdUntil);
            }

            // Without a compressed variant (no deflate subscriber, or nothing worth compressing) no subscriber's
            // deflate parameters are looked at: on a big channel that field is one more cache miss per subscriber.
            bool hasDeflated = run.HasDeflated;
            foreach (WebSocketConnection?[] block in channel.Subscribers.Blocks)
            {
                for (int i = 0; i < block.Length; i++)
                {
                    WebSocketConnection? subscriber = Volatile.Read(ref block[i]);
                    if (subscriber is null)
                    {
                        continue;
                    }

                    bool direct = sendThrough == SendThrough.Always
                        || (sendThrough == SendThrough.ToSingleChannelSubscribers && subscriber.HasOneSubscription);
                    bool deflated = hasDeflated && run.DeflatedFor(subscriber.Deflate);
                    DataWrite outcome = subscriber.WriteData(channel, run, deflated, direct, holdUntil, flushHorizon);
                    if (outcome is DataWrite.WrittenNeedsFlush or DataWrite.Written or DataWrite.WrittenHeld or DataWrite.WrittenFlushedEarly)
                    {
                        if (outcome == DataWrite.WrittenNeedsFlush)
                        {
                            _toFlush.Add(subscriber);
                            if (holdUntil != 0)
                            {
                                flushedEarly++;
                            }
                        }
                        else if (outcome == DataWrite.WrittenHeld)
                        {
                            _toHold.Add(subscriber);
                        }
                        else if (outcome == DataWrite.WrittenFlushedEarly)
                        {
                            flushedEarly++;
                        }

                        delivered++;
                        bytes += deflated ? run.Deflated.Length : run.Frames.Length;
                    }
                }
            }

            _metrics.Delivered(delivered * run.Messages, bytes);
            if (_toHold.Count > 0)
            {
                _coalescer!.Hold(channel, _toHold, holdUntil);
            }

            if (flushedEarly > 0)
            {
                _coalescer!.FlushingEarly(flushedEarly);
            }
        }

        Volatile.Write(ref channel.DeliveredThrough, Volatile.Read(ref channel.LastSequence));
    }

    private void FlushTouchedConnections()
    {
        foreach (WebSocketConnection connection in _toFlush)
        {
            connection.Flush();
        }

        _toFlush.Clear();
    }
}
