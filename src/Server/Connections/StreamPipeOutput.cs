using System.Buffers;
using System.IO.Pipelines;
using CommunityToolkit.HighPerformance.Buffers;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Server.Connections;

/// <summary>
/// Output through a <see cref="PipeWriter"/> over a stream: Kestrel's TLS middleware, whose writer encrypts into an
/// <c>SslStream</c> as it flushes. Like <see cref="PipeOutput"/>, a flush that cannot complete at once means the
/// transport pipe under the stream is over its pause threshold (the slow-consumer limit, counted in ciphertext).
/// </summary>
/// <remarks>
/// Unlike a <see cref="Pipe"/>'s writer, a stream's writer must not be written to while a flush is still under
/// way: that flush, finishing in the background, hands the buffers it wrote back to the pool and forgets whatever
/// was added meanwhile. A congested connection still writes replies and its close frame, so those wait here,
/// in a pooled buffer that exists only while a flush is pending, and go into the writer once it has drained.
/// </remarks>
internal sealed class StreamPipeOutput : ConnectionOutput
{
    private readonly PipeWriter _writer;
    private readonly WebSocketConnection _owner;

    // Both guarded by the write lock (this object): set while a flush is pending, and what was written meanwhile.
    private bool _flushPending;
    private ArrayPoolBufferWriter<byte>? _held;

    /// <param name="owner">The connection; it locks this object as its write lock, and so does this class.</param>
    public StreamPipeOutput(PipeWriter writer, WebSocketConnection owner)
    {
        _writer = writer;
        _owner = owner;
    }

    public override void Advance(int count)
    {
        if (_flushPending)
        {
            _held!.Advance(count);
        }
        else
        {
            _writer.Advance(count);
        }
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => _flushPending ? Held.GetMemory(sizeHint) : _writer.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _flushPending ? Held.GetSpan(sizeHint) : _writer.GetSpan(sizeHint);

    private ArrayPoolBufferWriter<byte> Held => _held ??= new ArrayPoolBufferWriter<byte>(256);

    public override FlushStatus Flush()
    {
        // The connection never flushes while congested, so no flush is pending here.
        ValueTask<FlushResult> flush = _writer.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            FlushResult result = flush.Result;
            return result.IsCompleted || result.IsCanceled ? FlushStatus.Closed : FlushStatus.Sent;
        }

        _flushPending = true;
        _ = WaitForDrainAsync(flush);
        return FlushStatus.Backlogged;
    }

    public override void Release()
    {
        _held?.Dispose();
        _held = null;
    }

    private async Task WaitForDrainAsync(ValueTask<FlushResult> flush)
    {
        bool closed = await PipeOutput.FlushEndsOutputAsync(flush).ConfigureAwait(false);

        lock (this)
        {
            _flushPending = false;
            if (_held is { WrittenCount: > 0 } held && !closed)
            {
                // In the order written, ahead of anything later; the connection's next flush sends them.
                _writer.Write(held.WrittenSpan);
            }

            Release();
            _owner.OnOutputDrained(closed);
        }
    }
}
