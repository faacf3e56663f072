using System.Buffers;
using System.IO.Pipelines;

namespace FastWs.Server.Transport;

/// <summary>
/// The write side of an epoll connection as a <see cref="PipeWriter"/>: what the HTTP handshake writes (the 101,
/// an error response) goes out on flush, waiting for room if the kernel's buffer is full. After the upgrade,
/// frames bypass it (<see cref="Connections.SocketOutput"/> sends directly), so it holds a buffer only while a
/// response is being written.
/// </summary>
internal sealed class EpollOutput : PipeWriter
{
    private readonly EpollConnection _connection;
    private byte[]? _buffer;
    private int _length;
    private bool _completed;

    public EpollOutput(EpollConnection connection) => _connection = connection;

    public override void Advance(int bytes) => _length += bytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => EnsureRoom(sizeHint).AsMemory(_length);

    public override Span<byte> GetSpan(int sizeHint = 0) => EnsureRoom(sizeHint).AsSpan(_length);

    public override long UnflushedBytes => _length;

    public override bool CanGetUnflushedBytes => true;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_length == 0 || _completed)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _completed));
        }

        byte[] buffer = _buffer!;
        int length = _length;
        _buffer = null;
        _length = 0;
        ValueTask<bool> send = _connection.SendAllAsync(buffer.AsMemory(0, length));
        if (send.IsCompletedSuccessfully)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: !send.Result));
        }

        return AwaitSendAsync(send, buffer);
    }

    private static async ValueTask<FlushResult> AwaitSendAsync(ValueTask<bool> send, byte[] buffer)
    {
        try
        {
            bool sent = await send.ConfigureAwait(false);
            return new FlushResult(isCanceled: false, isCompleted: !sent);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override void CancelPendingFlush()
    {
        // Flushes end when the bytes are sent or the connection fails; there is nothing to cancel.
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        if (_length > 0 && exception is null)
        {
            // Best effort, without waiting: what a handler wrote and did not flush before completing.
            _connection.TrySend(_buffer.AsSpan(0, _length));
        }

        _completed = true;
        _length = 0;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    private byte[] EnsureRoom(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        int needed = _length + Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 1024));
        }
        else if (_buffer.Length < needed)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return _buffer;
    }
}
