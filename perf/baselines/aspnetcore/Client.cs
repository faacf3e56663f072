using System.Net.WebSockets;
using System.Threading.Channels;

namespace FastWs.Baseline.AspNetCore;

/// <summary>
/// One connected client: its WebSocket, a send queue drained by its own send loop (WebSocket allows one send at a
/// time), and the channels it is subscribed to. The count of queued bytes implements the slow-consumer rule.
/// </summary>
internal sealed class Client : IDisposable
{
    /// <summary>Data messages are skipped for a client with more than this many bytes queued (the FastWs rule).</summary>
    public const long MaxQueuedBytes = 64 * 1024;

    private readonly Channel<ReadOnlyMemory<byte>> _queue = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    private readonly CancellationTokenSource _abort = new();
    private long _queuedBytes;
    private WebSocketCloseStatus? _closeStatus;
    private string? _closeReason;

    public Client(WebSocket socket) => Socket = socket;

    public WebSocket Socket { get; }

    /// <summary>Channels this client is subscribed to; only its receive loop touches the set.</summary>
    public HashSet<string> Channels { get; } = new(StringComparer.Ordinal);

    /// <summary>Cancelled when the connection must be torn down without waiting for the peer.</summary>
    public CancellationToken Aborted => _abort.Token;

    /// <summary>True once a close has been requested; later messages from the peer are ignored.</summary>
    public bool IsClosing => Volatile.Read(ref _closeReason) is not null;

    /// <summary>Queues a data message unless more than 64 KB is already queued for this client.</summary>
    public bool TrySendData(ReadOnlyMemory<byte> message)
    {
        if (Volatile.Read(ref _queuedBytes) > MaxQueuedBytes)
        {
            return false;
        }

        Interlocked.Add(ref _queuedBytes, message.Length);
        if (_queue.Writer.TryWrite(message))
        {
            return true;
        }

        Interlocked.Add(ref _queuedBytes, -message.Length);
        return false;
    }

    /// <summary>Queues a reply (ack, error, pong); replies are never skipped.</summary>
    public void SendReply(byte[] message)
    {
        Interlocked.Add(ref _queuedBytes, message.Length);
        if (!_queue.Writer.TryWrite(message))
        {
            Interlocked.Add(ref _queuedBytes, -message.Length);
        }
    }

    /// <summary>Ends the send queue; once it is drained the send loop sends a close frame with this status.</summary>
    public void Close(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is null)
        {
            _closeStatus = status;
            _queue.Writer.TryComplete();
            // A peer that never answers the close (or never reads) must not hold the connection open.
            _abort.CancelAfter(TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>Tears the connection down now.</summary>
    public void Abort()
    {
        _queue.Writer.TryComplete();
        _abort.Cancel();
    }

    /// <summary>Sends queued messages one at a time until the queue is completed, then the close frame if any.</summary>
    public async Task SendLoopAsync()
    {
        ChannelReader<ReadOnlyMemory<byte>> reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_abort.Token))
            {
                while (reader.TryRead(out ReadOnlyMemory<byte> message))
                {
                    await Socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, _abort.Token);
                    Interlocked.Add(ref _queuedBytes, -message.Length);
                }
            }

            if (_closeStatus is { } status && Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await Socket.CloseOutputAsync(status, _closeReason, _abort.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The connection is gone; the receive loop notices and cleans up.
            _abort.Cancel();
        }
    }

    public void Dispose() => _abort.Dispose();
}
