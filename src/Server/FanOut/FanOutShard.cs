using System.Buffers;
using System.Threading.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using ChannelState = FastWs.Server.Channels.Channel;

namespace FastWs.Server.FanOut;

/// <summary>A message waiting for fan-out: the channel and the published JSON in a buffer rented from <see cref="DataPool"/>.</summary>
internal readonly record struct PendingMessage(ChannelState Channel, byte[] Data, int Length)
{
    /// <summary>
    /// Buffers for queued message data. The shared pool keeps only a few dozen arrays per size, so while messages
    /// queue up behind a busy fan-out loop it would allocate one per publish; this pool keeps enough for a deep backlog.
    /// </summary>
    public static ArrayPool<byte> DataPool { get; } = ArrayPool<byte>.Create(maxArrayLength: 1024 * 1024, maxArraysPerBucket: 4096);
}

/// <summary>
/// One fan-out loop: THE hot path. It takes published messages off its queue in order, numbers each within its
/// channel, encodes it once into a complete frame, copies those same bytes into every subscriber's output, and
/// flushes each touched connection once per batch.
/// </summary>
/// <remarks>
/// One loop per channel (channels are spread over loops by name) keeps each channel's messages in sequence
/// order without locks. Batching is natural, not timed: the loop drains whatever is queued, then flushes.
/// At light load a batch is one message and goes out at once, straight from the encoded frame to each socket
/// (no copy, no flush list); under load many messages share one flush, which means fewer socket writes and
/// fewer wake-ups per message, with no added delay.
/// </remarks>
internal sealed class FanOutShard : IAsyncDisposable
{
    /// <summary>Flush at least this often under sustained load so the first message of a batch is not held back.</summary>
    private const int MaxMessagesPerBatch = 64;

    private readonly Channel<PendingMessage> _queue;
    private readonly ServerMetrics _metrics;
    private readonly DataFrameEncoder _encoder = new();
    private readonly List<WebSocketConnection> _toFlush = new(256);
    private readonly Task _loop;

    public FanOutShard(int capacity, ServerMetrics metrics)
    {
        _metrics = metrics;
        _queue = System.Threading.Channels.Channel.CreateBounded<PendingMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
        _loop = Task.Run(RunAsync);
    }

    public int QueueLength => _queue.Reader.Count;

    /// <summary>Queues a message; waits (asynchronously) only when the queue is full, which pushes back on the publisher.</summary>
    public ValueTask EnqueueAsync(PendingMessage message, CancellationToken cancellationToken) =>
        _queue.Writer.TryWrite(message) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(message, cancellationToken);

    /// <summary>Stops taking messages; the loop delivers what is already queued and ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    public Task Completion => _loop;

    public async ValueTask DisposeAsync()
    {
        Complete();
        await _loop.ConfigureAwait(false);
        _encoder.Dispose();
    }

    /// <summary>
    /// Benchmark/test hook: fans one message out on the calling thread exactly as the loop does a batch of one
    /// (<see cref="Deliver"/>, then flush every touched connection). Only for a shard whose queue stays empty:
    /// it must not run concurrently with the loop.
    /// </summary>
    internal void DeliverNow(PendingMessage message)
    {
        Deliver(message, sendThrough: true);
        FlushTouchedConnections();
    }

    private async Task RunAsync()
    {
        ChannelReader<PendingMessage> reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out PendingMessage next))
            {
                continue;
            }

            // One message of look-ahead: the batch's last message is sent through to each subscriber with nothing
            // queued ahead of it, and the earlier ones are copied into each output and flushed together after it.
            int batch = 1;
            bool more;
            do
            {
                PendingMessage message = next;
                more = batch < MaxMessagesPerBatch && reader.TryRead(out next);
                try
                {
                    Deliver(message, sendThrough: !more);
                }
#pragma warning disable CA1031 // One bad delivery must not stop every channel on this loop.
                catch (Exception)
#pragma warning restore CA1031
                {
                    _metrics.FanOutFailed();
                }

                batch++;
            }
            while (more);

            FlushTouchedConnections();
        }
    }

    private void Deliver(PendingMessage message, bool sendThrough)
    {
        ChannelState channel = message.Channel;
        try
        {
            long sequence = ++channel.LastSequence;
            ReadOnlySpan<byte> frame = _encoder.Encode(channel, sequence, message.Data.AsSpan(0, message.Length)).Span;

            int delivered = 0;
            foreach (WebSocketConnection?[] block in channel.Subscribers.Blocks)
            {
                for (int i = 0; i < block.Length; i++)
                {
                    WebSocketConnection? subscriber = Volatile.Read(ref block[i]);
                    if (subscriber is null)
                    {
                        continue;
                    }

                    DataWrite outcome = subscriber.WriteData(frame, sendThrough);
                    if (outcome == DataWrite.WrittenNeedsFlush)
                    {
                        _toFlush.Add(subscriber);
                        delivered++;
                    }
                    else if (outcome == DataWrite.Written)
                    {
                        delivered++;
                    }
                }
            }

            _metrics.Delivered(delivered, (long)delivered * frame.Length);
        }
        finally
        {
            PendingMessage.DataPool.Return(message.Data);
        }
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
