using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Server.Connections;

/// <summary>
/// Output through the transport's <see cref="PipeWriter"/>: for transports without a socket (in-memory ones in
/// benchmarks, or a connection middleware that wraps the stream) and when direct sends are switched off.
/// The pipe's pause threshold is the slow-consumer limit: a flush that cannot complete at once means more
/// than that many bytes are still unsent.
/// </summary>
internal sealed class PipeOutput : ConnectionOutput
{
    private readonly PipeWriter _writer;
    private readonly WebSocketConnection _owner;

    /// <param name="owner">The connection; it locks this object as its write lock, and so does this class.</param>
    public PipeOutput(PipeWriter writer, WebSocketConnection owner)
    {
        _writer = writer;
        _owner = owner;
    }

    public override void Advance(int count) => _writer.Advance(count);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _writer.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _writer.GetSpan(sizeHint);

    public override FlushStatus Flush()
    {
        ValueTask<FlushResult> flush = _writer.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            FlushResult result = flush.Result;
            return result.IsCompleted || result.IsCanceled ? FlushStatus.Closed : FlushStatus.Sent;
        }

        // Over the pause threshold: everything written is committed and goes out as the client drains.
        _ = WaitForDrainAsync(flush);
        return FlushStatus.Backlogged;
    }

    private async Task WaitForDrainAsync(ValueTask<FlushResult> flush)
    {
        bool closed = await FlushEndsOutputAsync(flush).ConfigureAwait(false);
        lock (this)
        {
            _owner.OnOutputDrained(closed);
        }
    }

    /// <summary>
    /// Waits for a pending flush; true when the output is over (the pipe completed or cancelled, or the transport
    /// went away under it). Shared with <see cref="StreamPipeOutput"/>.
    /// </summary>
    internal static async Task<bool> FlushEndsOutputAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            FlushResult result = await flush.ConfigureAwait(false);
            return result.IsCompleted || result.IsCanceled;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ConnectionAbortedException or OperationCanceledException)
        {
            return true; // includes the stream disposed under us (ObjectDisposedException) when the connection ended
        }
    }
}
