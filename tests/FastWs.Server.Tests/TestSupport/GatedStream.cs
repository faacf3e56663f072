namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// A write-only stream that keeps what it is given, and whose writes wait while it is held: the
/// stream under Kestrel's TLS writer (an SslStream over a full transport pipe) as a connection sees it.
/// </summary>
internal sealed class GatedStream : Stream
{
    private readonly MemoryStream _written = new();
    private TaskCompletionSource _gate = NewGate();

    public GatedStream()
    {
        _gate.SetResult();
    }

    /// <summary>Makes writes wait from now on, until <see cref="Release"/>.</summary>
    public void Hold() => _gate = NewGate();

    /// <summary>Lets waiting and later writes through.</summary>
    public void Release() => _gate.TrySetResult();

    public byte[] Written()
    {
        lock (_written)
        {
            return _written.ToArray();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _gate.Task.WaitAsync(TestServer.DefaultTimeout, cancellationToken);
        lock (_written)
        {
            _written.Write(buffer.Span);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _written.Dispose();
        }

        base.Dispose(disposing);
    }

    private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
