using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Benchmarks;

/// <summary>
/// Real <see cref="WebSocketConnection"/> objects over in-memory transports, for benchmarks that drive the server's
/// output path without sockets. Every piece is allocation-free once warm.
/// </summary>
/// <remarks>
/// Why not <c>new Pipe()</c> or <c>PipeWriter.Create(Stream.Null)</c>: both take their buffers from
/// <see cref="ArrayPool{T}.Shared"/>, which keeps only a few dozen arrays per size. A fan-out writes to every
/// subscriber before it flushes any, so with 100 or more subscribers that many buffers are out at once and the
/// pool allocates fresh 4 KiB arrays on every publish (measured with either writer: ~144 KB per publish at 100
/// subscribers, ~41 MB at 10,000). Kestrel's transport pipes take blocks from its own pinned block
/// pool, which keeps what is returned; <see cref="BlockMemoryPool"/> does the same here.
/// </remarks>
internal static class InMemoryTransport
{
    /// <summary>Kestrel's block size.</summary>
    public const int BlockSize = 4096;

    /// <summary>Never read: fan-out benchmarks only write.</summary>
    private static readonly PipeReader s_idleInput = new Pipe().Reader;

    /// <summary>
    /// A transport output shaped like Kestrel's: a <see cref="Pipe"/> over pooled blocks whose pause threshold
    /// is the server's default slow-consumer limit (64 KiB). The caller drains the reader, as the socket would.
    /// </summary>
    public static Pipe CreateOutputPipe(BlockMemoryPool pool) => new(new PipeOptions(
        pool: pool,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 64 * 1024,
        resumeWriterThreshold: 32 * 1024,
        minimumSegmentSize: BlockSize,
        useSynchronizationContext: false));

    /// <summary>A connection whose output goes to <paramref name="output"/>, as if from 127.0.0.1.</summary>
    public static WebSocketConnection CreateConnection(PipeWriter output, ServerMetrics metrics, int index)
    {
        var context = new DefaultConnectionContext("bench-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            Transport = new DuplexPipe(s_idleInput, output),
        };
        return new WebSocketConnection(context, metrics, IPAddress.Loopback);
    }

    /// <summary>
    /// A connection context for benchmarks that send through a socket feature the caller sets: its transport
    /// pipes are never read or written.
    /// </summary>
    public static DefaultConnectionContext CreateSocketContext(string id) => new(id)
    {
        Transport = new DuplexPipe(s_idleInput, new Pipe().Writer),
    };

    /// <summary>Consumes everything written to <paramref name="pipe"/> so far, like the socket sending it.</summary>
    public static long Drain(Pipe pipe)
    {
        if (!pipe.Reader.TryRead(out ReadResult result))
        {
            return 0;
        }

        long length = result.Buffer.Length;
        pipe.Reader.AdvanceTo(result.Buffer.End);
        return length;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

/// <summary>
/// A memory pool of fixed 4 KiB pinned blocks that keeps every block returned to it, like Kestrel's
/// <c>PinnedBlockMemoryPool</c>: after the first publish has grown it to the peak number of blocks in flight,
/// renting and returning allocate nothing.
/// </summary>
internal sealed class BlockMemoryPool : MemoryPool<byte>
{
    private readonly Stack<Block> _free = new();
    private readonly Lock _lock = new();

    public override int MaxBufferSize => InMemoryTransport.BlockSize;

    /// <summary>Blocks created so far (the peak in flight).</summary>
    public int Created { get; private set; }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, MaxBufferSize);
        lock (_lock)
        {
            if (_free.TryPop(out Block? block))
            {
                return block;
            }

            Created++;
        }

        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private void Return(Block block)
    {
        lock (_lock)
        {
            _free.Push(block);
        }
    }

    private sealed class Block(BlockMemoryPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(InMemoryTransport.BlockSize, pinned: true);

        public void Dispose() => pool.Return(this);
    }
}

/// <summary>
/// A <see cref="PipeWriter"/> that throws the bytes away: every instance writes into one shared scratch buffer and
/// only counts. With it a benchmark measures FastWs's own per-subscriber work (lock, state checks, copy, flush
/// bookkeeping) without the pipe's.
/// </summary>
internal sealed class DiscardPipeWriter : PipeWriter
{
    private static byte[] s_scratch = new byte[64 * 1024];

    /// <summary>Bytes "written" (advanced) so far.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Flushes so far.</summary>
    public long Flushes { get; private set; }

    public override void Advance(int bytes) => BytesWritten += bytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => Scratch(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Scratch(sizeHint).Span;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Flushes++;
        return new ValueTask<FlushResult>(default(FlushResult));
    }

    public override void CancelPendingFlush()
    {
    }

    public override void Complete(Exception? exception = null)
    {
    }

    private static Memory<byte> Scratch(int sizeHint)
    {
        if (sizeHint > s_scratch.Length)
        {
            s_scratch = new byte[sizeHint];
        }

        return s_scratch;
    }
}
