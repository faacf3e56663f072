namespace FastWs.Server.Metrics;

/// <summary>
/// Server-wide counters, updated without locks on every hot path. Counters bumped by many connection threads
/// at once are striped per processor (<see cref="StripedCounter"/>); the fan-out shards add once per message,
/// not once per subscriber, so a delivery to 10,000 clients costs one add.
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>Close codes counted individually: 1000-1015 and FastWs's own 4001-4002; anything else is counted as "other".</summary>
    private const int FirstCloseCode = 1000;
    private const int StandardCloseCodeSlots = 16;
    private const int FirstOwnCloseCode = 4001;
    private const int OwnCloseCodeSlots = 2;
    private const int CloseCodeSlots = StandardCloseCodeSlots + OwnCloseCodeSlots;

    private long _connectionsTotal;
    private long _connectionsActive;
    private readonly StripedCounter _messagesIn = new();
    private long _compressedMessagesIn;
    private long _deflateConnections;
    private readonly StripedCounter _bytesIn = new();
    private long _messagesOut;
    private long _bytesOut;
    private long _messagesSkipped;
    private readonly StripedCounter _published = new();
    private long _subscriptionChanges;
    private long _heartbeatsSent;
    private long _heartbeatsMissed;
    private long _rateLimited;
    private long _limitRejections;
    private long _plainHttpRequests;
    private long _errorsSent;
    private long _slowConsumerCloses;
    private long _fanOutFailures;
    private long _idleTrims;
    private long _lastIdleTrimPauseTicks;
    private long _lastIdleTrimReleasedBytes;
    private readonly long[] _handshakeFailures = new long[HandshakeFailures.Count];
    private readonly long[] _authFailures = new long[Auth.AuthFailures.Count];
    private long _authSuccesses;
    private long _tokenRefreshes;
    private long _tokenExpiries;
    private long _originRejections;
    private long _gapNotices;
    private readonly StripedCounter _conflated = new();
    private long _recoveries;
    private long _recoveryFailures;
    private long _messagesReplayed;
    private long _snapshotsSent;
    private readonly long[] _closesByCode = new long[CloseCodeSlots + 1];

    public ServerMetrics()
    {
        Rates = new RateHistory(this);
    }

    /// <summary>Per-second rates over the last 60 seconds, sampled by the supervisor's tick.</summary>
    public RateHistory Rates { get; }

    public long ConnectionsTotal => Volatile.Read(ref _connectionsTotal);

    public long ConnectionsActive => Volatile.Read(ref _connectionsActive);

    /// <summary>Client data messages received (text and binary).</summary>
    public long MessagesIn => _messagesIn.Value;

    /// <summary>Client data messages that arrived compressed (permessage-deflate); also counted in <see cref="MessagesIn"/>.</summary>
    public long CompressedMessagesIn => Volatile.Read(ref _compressedMessagesIn);

    /// <summary>Admitted connections that negotiated permessage-deflate.</summary>
    public long DeflateConnections => Volatile.Read(ref _deflateConnections);

    public long BytesIn => _bytesIn.Value;

    /// <summary>Data messages written to clients (one per subscriber per published message).</summary>
    public long MessagesOut => Volatile.Read(ref _messagesOut);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    /// <summary>Data messages not sent because the subscriber was over its unsent-output limit.</summary>
    public long MessagesSkipped => Volatile.Read(ref _messagesSkipped);

    /// <summary>Messages accepted for fan-out (by any of the three ways in).</summary>
    public long Published => _published.Value;

    public long SubscriptionChanges => Volatile.Read(ref _subscriptionChanges);

    public long HeartbeatsSent => Volatile.Read(ref _heartbeatsSent);

    /// <summary>Connections closed because they answered no ping in time.</summary>
    public long HeartbeatsMissed => Volatile.Read(ref _heartbeatsMissed);

    /// <summary>Client messages refused with a rate_limited error.</summary>
    public long RateLimited => Volatile.Read(ref _rateLimited);

    /// <summary>Subscriptions or connections refused by a configured limit.</summary>
    public long LimitRejections => Volatile.Read(ref _limitRejections);

    /// <summary>Plain HTTP requests (stats, health) answered on the WebSocket port; not handshake failures.</summary>
    public long PlainHttpRequests => Volatile.Read(ref _plainHttpRequests);

    /// <summary>Error replies sent to clients.</summary>
    public long ErrorsSent => Volatile.Read(ref _errorsSent);

    public long SlowConsumerCloses => Volatile.Read(ref _slowConsumerCloses);

    /// <summary>Deliveries fan-out gave up on because of an unexpected exception (should stay 0).</summary>
    public long FanOutFailures => Volatile.Read(ref _fanOutFailures);

    /// <summary>Idle memory trims run (see IdleMemoryTrim).</summary>
    public long IdleTrims => Volatile.Read(ref _idleTrims);

    /// <summary>How long the last idle trim paused the process.</summary>
    public TimeSpan LastIdleTrimPause => TimeSpan.FromTicks(Volatile.Read(ref _lastIdleTrimPauseTicks));

    /// <summary>Resident memory the last idle trim gave back (negative if it grew meanwhile).</summary>
    public long LastIdleTrimReleasedBytes => Volatile.Read(ref _lastIdleTrimReleasedBytes);

    public long HandshakeFailuresTotal => SumOf(_handshakeFailures);

    private static long SumOf(long[] counters)
    {
        long sum = 0;
        for (int i = 0; i < counters.Length; i++)
        {
            sum += Volatile.Read(ref counters[i]);
        }

        return sum;
    }

    public long HandshakeFailureCount(HandshakeFailure reason) => Volatile.Read(ref _handshakeFailures[(int)reason]);

    /// <summary>Tokens accepted (on upgrade or by a first auth message; refreshes are counted apart).</summary>
    public long AuthSuccesses => Volatile.Read(ref _authSuccesses);

    /// <summary>Tokens refused, connection-level (upgrade, auth message) and HTTP API alike.</summary>
    public long AuthFailuresTotal => SumOf(_authFailures);

    public long AuthFailureCount(Auth.AuthFailure reason) => Volatile.Read(ref _authFailures[(int)reason]);

    /// <summary>Connections that replaced their token with a new one for the same user.</summary>
    public long TokenRefreshes => Volatile.Read(ref _tokenRefreshes);

    /// <summary>Connections closed with 4002 because their token expired.</summary>
    public long TokenExpiries => Volatile.Read(ref _tokenExpiries);

    /// <summary>Upgrades and HTTP API calls refused for their Origin (403).</summary>
    public long OriginRejections => Volatile.Read(ref _originRejections);

    /// <summary><c>gap</c> notices sent to clients whose messages were skipped.</summary>
    public long GapNotices => Volatile.Read(ref _gapNotices);

    /// <summary>Publishes replaced by a newer one within their channel's conflation interval (never sent).</summary>
    public long Conflated => _conflated.Value;

    /// <summary>Channels a subscribe with <c>since</c> recovered.</summary>
    public long Recoveries => Volatile.Read(ref _recoveries);

    /// <summary>Channels a subscribe with <c>since</c> could not recover (history too short, another epoch).</summary>
    public long RecoveryFailures => Volatile.Read(ref _recoveryFailures);

    /// <summary>Messages sent again from history to recovering clients.</summary>
    public long MessagesReplayed => Volatile.Read(ref _messagesReplayed);

    /// <summary>Snapshots (a channel's latest message) sent to new subscribers.</summary>
    public long SnapshotsSent => Volatile.Read(ref _snapshotsSent);

    /// <summary>Closes by code (sent by the server or received from the client, whichever ended the connection).</summary>
    public long ClosesWithCode(ushort code) => Volatile.Read(ref _closesByCode[CloseSlot(code)]);

    /// <summary>Every close code seen so far with its count; codes outside 1000-1015 and 4001-4002 are reported as 0.</summary>
    public IEnumerable<KeyValuePair<int, long>> ClosesByCode()
    {
        for (int i = 0; i <= CloseCodeSlots; i++)
        {
            long count = Volatile.Read(ref _closesByCode[i]);
            if (count > 0)
            {
                int code = i == CloseCodeSlots ? 0
                    : i < StandardCloseCodeSlots ? FirstCloseCode + i
                    : FirstOwnCloseCode + i - StandardCloseCodeSlots;
                yield return new KeyValuePair<int, long>(code, count);
            }
        }
    }

    internal void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsTotal);
        Interlocked.Increment(ref _connectionsActive);
    }

    internal void ConnectionClosed() => Interlocked.Decrement(ref _connectionsActive);

    // Not striped: compressed client messages are rare (subscribes, pings), unlike messages in general.
    internal void CompressedMessageIn() => Interlocked.Increment(ref _compressedMessagesIn);

    internal void DeflateNegotiated() => Interlocked.Increment(ref _deflateConnections);

    internal void MessageIn(int bytes)
    {
        _messagesIn.Increment();
        _bytesIn.Add(bytes);
    }

    internal void Delivered(int messages, long bytes)
    {
        Interlocked.Add(ref _messagesOut, messages);
        Interlocked.Add(ref _bytesOut, bytes);
    }

    internal void Skipped(long messages) => Interlocked.Add(ref _messagesSkipped, messages);

    internal void GapNotified() => Interlocked.Increment(ref _gapNotices);

    internal void ConflatedAway() => _conflated.Increment();

    /// <summary>A subscribe with <c>since</c>: channels recovered (with the messages replayed) and channels not.</summary>
    internal void Recovery(int recovered, int notRecovered, long replayed)
    {
        Interlocked.Add(ref _recoveries, recovered);
        Interlocked.Add(ref _recoveryFailures, notRecovered);
        Interlocked.Add(ref _messagesReplayed, replayed);
    }

    internal void SnapshotSent(int count) => Interlocked.Add(ref _snapshotsSent, count);

    internal void PublishAccepted() => _published.Increment();

    internal void SubscriptionChanged() => Interlocked.Increment(ref _subscriptionChanges);

    internal void HeartbeatSent() => Interlocked.Increment(ref _heartbeatsSent);

    internal void HeartbeatMissed() => Interlocked.Increment(ref _heartbeatsMissed);

    internal void RateLimitHit() => Interlocked.Increment(ref _rateLimited);

    internal void LimitRejected() => Interlocked.Increment(ref _limitRejections);

    internal void PlainHttpRequestServed() => Interlocked.Increment(ref _plainHttpRequests);

    internal void ErrorSent() => Interlocked.Increment(ref _errorsSent);

    internal void HandshakeFailed(HandshakeFailure reason) => Interlocked.Increment(ref _handshakeFailures[(int)reason]);

    internal void Authenticated() => Interlocked.Increment(ref _authSuccesses);

    internal void AuthFailed(Auth.AuthFailure reason) => Interlocked.Increment(ref _authFailures[(int)reason]);

    internal void TokenRefreshed() => Interlocked.Increment(ref _tokenRefreshes);

    internal void TokenExpired() => Interlocked.Increment(ref _tokenExpiries);

    internal void OriginRejected() => Interlocked.Increment(ref _originRejections);

    internal void Closed(ushort code) => Interlocked.Increment(ref _closesByCode[CloseSlot(code)]);

    internal void FanOutFailed() => Interlocked.Increment(ref _fanOutFailures);

    internal void SlowConsumerClosed() => Interlocked.Increment(ref _slowConsumerCloses);

    internal void IdleTrimmed(TimeSpan pause, long releasedBytes)
    {
        Volatile.Write(ref _lastIdleTrimPauseTicks, pause.Ticks);
        Volatile.Write(ref _lastIdleTrimReleasedBytes, releasedBytes);
        Interlocked.Increment(ref _idleTrims);
    }

    private static int CloseSlot(ushort code) =>
        code >= FirstCloseCode && code < FirstCloseCode + StandardCloseCodeSlots ? code - FirstCloseCode
        : code >= FirstOwnCloseCode && code < FirstOwnCloseCode + OwnCloseCodeSlots ? StandardCloseCodeSlots + code - FirstOwnCloseCode
        : CloseCodeSlots;
}
