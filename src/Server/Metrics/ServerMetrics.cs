namespace FastWs.Server.Metrics;

/// <summary>
/// Server-wide counters, updated with interlocked operations (no locks) from every hot path.
/// The fan-out loops add per message, not per subscriber, so a delivery to 10,000 clients costs one add.
/// </summary>
public sealed class ServerMetrics
{
    private long _connectionsTotal;
    private long _connectionsActive;
    private long _messagesIn;
    private long _bytesIn;
    private long _messagesOut;
    private long _bytesOut;
    private long _messagesSkipped;
    private long _published;
    private long _subscriptionChanges;
    private long _handshakeFailures;
    private long _slowConsumerCloses;

    public long ConnectionsTotal => Volatile.Read(ref _connectionsTotal);

    public long ConnectionsActive => Volatile.Read(ref _connectionsActive);

    public long MessagesIn => Volatile.Read(ref _messagesIn);

    public long BytesIn => Volatile.Read(ref _bytesIn);

    /// <summary>Data messages written to clients (one per subscriber per published message).</summary>
    public long MessagesOut => Volatile.Read(ref _messagesOut);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    /// <summary>Data messages not sent because the subscriber was over its unsent-output limit.</summary>
    public long MessagesSkipped => Volatile.Read(ref _messagesSkipped);

    /// <summary>Messages accepted for fan-out (by any of the three ways in).</summary>
    public long Published => Volatile.Read(ref _published);

    public long SubscriptionChanges => Volatile.Read(ref _subscriptionChanges);

    public long HandshakeFailures => Volatile.Read(ref _handshakeFailures);

    public long SlowConsumerCloses => Volatile.Read(ref _slowConsumerCloses);

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsTotal);
        Interlocked.Increment(ref _connectionsActive);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _connectionsActive);

    internal void MessageIn(int bytes)
    {
        Interlocked.Increment(ref _messagesIn);
        Interlocked.Add(ref _bytesIn, bytes);
    }

    internal void Delivered(int messages, long bytes)
    {
        Interlocked.Add(ref _messagesOut, messages);
        Interlocked.Add(ref _bytesOut, bytes);
    }

    internal void Skipped(int messages) => Interlocked.Add(ref _messagesSkipped, messages);

    internal void PublishAccepted() => Interlocked.Increment(ref _published);

    internal void SubscriptionChanged() => Interlocked.Increment(ref _subscriptionChanges);

    internal void HandshakeFailed() => Interlocked.Increment(ref _handshakeFailures);

    internal void SlowConsumerClosed() => Interlocked.Increment(ref _slowConsumerCloses);
}
