using System.Threading.Channels;

namespace FastWs.Client;

/// <summary>
/// One channel subscribed by a <see cref="FastWsClient"/>: an <see cref="IAsyncEnumerable{T}"/> of its messages, gapless
/// across reconnects (each <c>Seq</c> once, in order) or with an explicit <see cref="FastWsMessageKind.Reset"/> item.
/// Read it with <c>await foreach</c>; one reader at a time. The stream ends when the subscription is unsubscribed or the
/// client disposed, and throws <see cref="FastWsException"/> when the server refuses the channel later (after a
/// reconnect, or a refreshed token that lost its role).
/// </summary>
public sealed class FastWsSubscription : IAsyncEnumerable<FastWsMessage>, IAsyncDisposable
{
    private readonly FastWsClient _client;
    private readonly Channel<FastWsMessage> _buffer;
    private readonly TaskCompletionSource<FastWsPosition?> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal FastWsSubscription(FastWsClient client, string channel, int capacity)
    {
        _client = client;
        Channel = channel;
        // Bounded, Wait: the socket reader waits for room, so a slow reader is backpressure on the socket (and then a
        // slow consumer for the server, which skips and sends gap notices), never an unbounded queue in this process.
        _buffer = System.Threading.Channels.Channel.CreateBounded<FastWsMessage>(new BoundedChannelOptions(Math.Max(1, capacity))
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    public string Channel { get; }

    /// <summary>The last position handed to the stream (its buffer included), or null before the first ack.</summary>
    public FastWsPosition? Position
    {
        get
        {
            lock (_client.Gate)
            {
                return Epoch is null || Seq is null ? null : new FastWsPosition(Epoch, Seq.Value);
            }
        }
    }

    /// <summary>Messages waiting in the buffer for the reader.</summary>
    public int Buffered => _buffer.Reader.Count;

    // State the client keeps per channel, under FastWsClient.Gate.
    internal SubscriptionStatus Status { get; set; } = SubscriptionStatus.Queued;

    internal string? Epoch { get; set; }

    internal long? Seq { get; set; }

    internal bool Acked => _ready.Task.IsCompleted;

    internal Task<FastWsPosition?> Ready => _ready.Task;

    internal ChannelWriter<FastWsMessage> Writer => _buffer.Writer;

    internal void Acknowledge(FastWsPosition? position) => _ready.TrySetResult(position);

    /// <summary>
    /// Fails a subscribe still waiting for its ack with <paramref name="readyError"/>, and ends the stream: with
    /// <paramref name="streamError"/> (the reader's <c>await foreach</c> throws it), or plainly when null.
    /// </summary>
    internal void End(FastWsException? streamError, FastWsException readyError)
    {
        if (_ready.TrySetException(readyError))
        {
            _ = _ready.Task.Exception; // observed: the caller may be gone
        }

        _buffer.Writer.TryComplete(streamError);
    }

    /// <summary>Reads the stream. Cancelling <paramref name="cancellationToken"/> ends the enumeration, not the subscription.</summary>
    public IAsyncEnumerator<FastWsMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _buffer.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    /// <summary>
    /// <c>await foreach (var m in subscription.ConfigureAwait(false))</c>: the enumeration's awaits without the captured
    /// context (an instance method, because the subscription is both an async enumerable and async disposable).
    /// </summary>
    public System.Runtime.CompilerServices.ConfiguredCancelableAsyncEnumerable<FastWsMessage> ConfigureAwait(bool continueOnCapturedContext) =>
        TaskAsyncEnumerableExtensions.ConfigureAwait<FastWsMessage>(this, continueOnCapturedContext);

    /// <summary>Leaves the channel; completes on the server's ack (at once when disconnected). The stream ends.</summary>
    public Task UnsubscribeAsync(CancellationToken cancellationToken = default) => _client.LeaveAsync(this, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await UnsubscribeAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or FastWsException)
        {
            // Best effort: the stream has ended either way.
        }
    }
}

/// <summary>Where a subscription is on the current connection (the TypeScript client's ChannelStatus).</summary>
internal enum SubscriptionStatus
{
    /// <summary>To be sent with the next subscribe request (after a reconnect: with <c>since</c>).</summary>
    Queued,

    /// <summary>First subscribe sent, no ack yet.</summary>
    Subscribing,

    /// <summary>Subscribe with <c>since</c> sent: messages are ignored until the ack says what follows.</summary>
    Recovering,

    /// <summary>Gap notice (or a hole): unsubscribe + subscribe with <c>since</c> to go out with the next flush.</summary>
    Regap,

    /// <summary>The server holds it until the connection's token arrives.</summary>
    Waiting,

    Active,
}
