using System.Buffers;
using System.Text;
using System.Text.Json;
using FastWs.Server.Broker;
using FastWs.Server.Channels;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;

namespace FastWs.Server.FanOut;

/// <summary>
/// The single way into fan-out, used by publishing WebSocket connections, <c>POST /api/publish</c> and hosts
/// that embed the server. It checks the channel (and, for inline namespaces, that the data is a JSON object), drops
/// messages for channels that nobody listens to and that keep nothing (they cost nothing), copies the data into a
/// pooled buffer and queues it on the channel's fan-out shard, which numbers it, keeps it in the channel's history
/// when the namespace keeps one, and delivers it on the publishing thread when no other thread is delivering (see
/// <see cref="FanOutShard"/>). Conflated channels go through the <see cref="Conflator"/> first.
/// </summary>
public sealed class MessagePublisher : IAsyncDisposable
{
    private readonly ChannelRegistry _channels;
    private readonly NamespaceCatalog _namespaces;
    private readonly ServerMetrics _metrics;
    private readonly FanOutShard[] _shards;
    private readonly Conflator _conflator;
    private readonly WriteCoalescer _coalescer;
    private readonly ServerHistograms? _histograms;
    private readonly ChannelFollower? _broker;
    private volatile bool _stopped;

    /// <param name="broker">
    /// Several nodes: publishes go through this engine, which numbers them, and come back to every following node,
    /// this one included (see <see cref="ChannelFollower"/>). Null on a single node.
    /// </param>
    internal MessagePublisher(ChannelRegistry channels, NamespaceCatalog namespaces, ServerMetrics metrics, int queueCapacity, int inlineDeliveryBudget,
        TimeProvider? time = null, ServerHistograms? histograms = null, IBrokerEngine? broker = null, BrokerOptions? brokerOptions = null)
    {
        _histograms = histograms;
        _channels = channels;
        _namespaces = namespaces;
        _metrics = metrics;
        time ??= TimeProvider.System;
        BrokerMetrics? brokerMetrics = broker is null ? null : new BrokerMetrics();
        IChannelLog log = brokerMetrics is null ? LocalChannelLog.Instance : new BrokerChannelLog(brokerMetrics);
        _shards = new FanOutShard[channels.ShardCount];
        _coalescer = new WriteCoalescer(time);
        for (int i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new FanOutShard(queueCapacity, metrics, inlineDeliveryBudget, log, histograms, _coalescer);
        }

        _coalescer.Shards = _shards;

        if (broker is not null)
        {
            brokerOptions ??= new BrokerOptions();
            channels.LingerOverrideMs = (long)brokerOptions.InterestLinger.TotalMilliseconds;
            _broker = new ChannelFollower(broker, brokerOptions, channels,
                (message, deliver) => message.Channel is null
                    ? DeliverAll()
                    : _shards[message.Channel.Shard].EnqueueAsync(message with { QueuedAt = histograms?.QueueStamp() ?? 0 }, deliver, CancellationToken.None),
                brokerMetrics!, time);
        }

        // Conflation runs on the publishing node, before numbering (so conflated-away messages leave no false gaps):
        // with a broker, what leaves the interval goes to the broker like any publish.
        ChannelFollower? follower = _broker;
        _conflator = new Conflator(time,
            follower is not null
                ? message => follower.TryPublishConflated(message)
                : message => _shards[message.Channel.Shard].TryEnqueue(message with { QueuedAt = histograms?.QueueStamp() ?? 0 }),
            follower is not null ? static _ => { } : channel => _shards[channel.Shard].Deliver(),
            replaced => metrics.ConflatedAway());
    }

    private ValueTask DeliverAll()
    {
        DeliverQueued();
        return ValueTask.CompletedTask;
    }

    /// <summary>The broker path when several nodes share the channels; null on a single node.</summary>
    internal ChannelFollower? Broker => _broker;

    /// <summary>Conflated channels with a newer publish waiting for their interval to end.</summary>
    internal int ConflatedWaiting => _conflator.Waiting;

    /// <summary>Connections holding data for a namespace's write delay (stale entries included until their deadline).</summary>
    internal int CoalescerWaiting => _coalescer.Waiting;

    /// <summary>Write coalescing's one timer structure, for its counters.</summary>
    internal WriteCoalescer Coalescer => _coalescer;

    /// <summary>True once shutdown has begun; new messages are refused.</summary>
    public bool IsStopped => _stopped;

    /// <summary>Messages queued but not yet fanned out, over all shards.</summary>
    public int QueuedMessages
    {
        get
        {
            int total = 0;
            foreach (FanOutShard shard in _shards)
            {
                total += shard.QueueLength;
            }

            return total;
        }
    }

    /// <summary>Publishes UTF-8 JSON <paramref name="data"/> to <paramref name="channel"/> after validating both.</summary>
    public ValueTask<PublishResult> PublishAsync(string channel, ReadOnlySpan<byte> data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channel);
        if (!IsSingleJsonValue(data))
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.InvalidData, 0));
        }

        return PublishValidatedAsync(channel, data, cancellationToken);
    }

    /// <summary>Publishes a string of JSON.</summary>
    public ValueTask<PublishResult> PublishAsync(string channel, string json, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(json);
        return PublishAsync(channel, Encoding.UTF8.GetBytes(json), cancellationToken);
    }

    /// <summary>
    /// Publishes data that is already known to be one valid JSON value (it came out of a JSON parser).
    /// Checks the channel name and namespace but not who may publish: callers do that.
    /// </summary>
    /// <param name="deferDelivery">
    /// Queue only; the caller calls <see cref="DeliverQueued"/> once it has queued everything at hand (a publisher's
    /// read loop does so per read), so that those messages go out in one batch: one socket write per subscriber.
    /// </param>
    internal ValueTask<PublishResult> PublishValidatedAsync(ReadOnlySpan<char> channelName, ReadOnlySpan<byte> data, CancellationToken cancellationToken,
        bool deferDelivery = false)
    {
        if (_stopped)
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.ShuttingDown, 0));
        }

        if (!ChannelName.IsValid(channelName, out int namespaceLength))
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.InvalidChannel, 0));
        }

        if (!_namespaces.TryGet(channelName[..namespaceLength], out NamespaceOptions settings))
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.UnknownNamespace, 0));
        }

        if (settings.Format == MessageFormat.Inline && !MessageEncoding.IsObject(data))
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.NotAnObject, 0));
        }

        if (_broker is not null)
        {
            return PublishThroughBroker(channelName, settings, data);
        }

        _metrics.PublishAccepted();
        Channel? channel = _channels.GetForPublish(channelName, settings);
        if (channel is null)
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.NoSubscribers, 0));
        }

        int subscribers = channel.SubscriberCount;
        if (subscribers == 0)
        {
            // Kept for its retention after the last publish too, not only after the last subscriber left.
            Volatile.Write(ref channel.LastIdlePublishMs, Environment.TickCount64);
        }

        if (channel.Conflation is not null)
        {
            _conflator.Offer(channel, data);
            return ValueTask.FromResult(new PublishResult(PublishOutcome.Queued, subscribers));
        }

        byte[] copy = PendingMessage.DataPool.Rent(data.Length);
        data.CopyTo(copy);
        ValueTask queued = _shards[channel.Shard].EnqueueAsync(new PendingMessage(channel, copy, data.Length, _histograms?.QueueStamp() ?? 0), !deferDelivery, cancellationToken);
        return queued.IsCompletedSuccessfully
            ? ValueTask.FromResult(new PublishResult(PublishOutcome.Queued, subscribers))
            : AwaitQueuedAsync(queued, subscribers);
    }

    /// <summary>
    /// Several nodes: the broker numbers the message and hands it to every node following the channel, this one too,
    /// so every subscriber anywhere gets the same <c>seq</c>. Conflated namespaces conflate here first.
    /// </summary>
    private ValueTask<PublishResult> PublishThroughBroker(ReadOnlySpan<char> channelName, NamespaceOptions settings, ReadOnlySpan<byte> data)
    {
        if (!_broker!.IsConnected)
        {
            _broker.Metrics.PublishRefused();
            return ValueTask.FromResult(new PublishResult(PublishOutcome.Unavailable, 0));
        }

        _metrics.PublishAccepted();
        string name = new(channelName);
        if (settings.ConflationInterval > TimeSpan.Zero)
        {
            // The channel holds the conflation state; a publish keeps it (as on one node) for its linger after the last.
            Channel channel = _channels.GetOrCreateIdle(name, settings);
            Volatile.Write(ref channel.LastIdlePublishMs, Environment.TickCount64);
            _conflator.Offer(channel, data);
            return ValueTask.FromResult(new PublishResult(PublishOutcome.Queued, 0));
        }

        return _broker.PublishAsync(name, settings, data);
    }

    /// <summary>Delivers messages queued with deferred delivery (on this thread, for shards nobody is delivering).</summary>
    internal void DeliverQueued()
    {
        foreach (FanOutShard shard in _shards)
        {
            shard.Deliver();
        }
    }

    /// <summary>Refuses new messages; already-queued ones are still delivered by <see cref="DrainAsync"/>.</summary>
    public void Stop() => _stopped = true;

    /// <summary>Delivers everything queued, then closes the queues.</summary>
    public async Task DrainAsync()
    {
        Stop();
        _conflator.FlushAll();
        foreach (FanOutShard shard in _shards)
        {
            shard.Complete();
        }

        foreach (FanOutShard shard in _shards)
        {
            await shard.WhenDeliveredAsync().ConfigureAwait(false);
        }

        _coalescer.FlushAll();
    }

    public async ValueTask DisposeAsync()
    {
        Stop();
        _conflator.Dispose();
        if (_broker is not null)
        {
            await _broker.DisposeAsync().ConfigureAwait(false);
        }

        foreach (FanOutShard shard in _shards)
        {
            await shard.DisposeAsync().ConfigureAwait(false);
        }

        _coalescer.Dispose();
    }

    /// <summary>True when <paramref name="data"/> is exactly one JSON value (object, array, string, number, literal).</summary>
    public static bool IsSingleJsonValue(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return false;
        }

        var reader = new Utf8JsonReader(data, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            if (!reader.Read())
            {
                return false;
            }

            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static async ValueTask<PublishResult> AwaitQueuedAsync(ValueTask queued, int subscribers)
    {
        await queued.ConfigureAwait(false);
        return new PublishResult(PublishOutcome.Queued, subscribers);
    }
}
