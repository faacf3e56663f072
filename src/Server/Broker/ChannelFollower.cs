using System.Diagnostics;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;

namespace FastWs.Server.Broker;

/// <summary>
/// The broker path, in one place, the same for every engine (<see cref="IBrokerEngine"/>): publishing through the
/// broker, following the channels this node has subscribers for, and handing the broker's numbered messages to the
/// local fan-out in order, refilled from the broker's history where pub/sub lost some.
/// </summary>
/// <remarks>
/// <para>
/// Publish: one call to the broker per message, never waiting for the previous one (the engine pipelines them);
/// a bounded number in flight per node, beyond which publishes are refused and counted. While the broker is
/// unreachable every publish is refused at once: nothing is queued, nothing silently dropped.
/// </para>
/// <para>
/// Follow: a channel's first local subscriber makes the node subscribe to it in the broker, then read the channel's
/// epoch, last <c>seq</c> and kept messages (in that order, so nothing published in between is missed: what comes
/// on pub/sub up to the read's <c>seq</c> is dropped as already known). Until then the subscribe request waits;
/// afterwards joins are answered from the node's copy exactly as on a single node (see <see cref="StreamJoin"/>). The
/// node stops following <see cref="BrokerOptions.InterestLinger"/> after the last local subscriber left.
/// </para>
/// <para>
/// Receive: messages come one at a time per channel. One past the last is handed to the fan-out (which records the
/// broker's number, see <see cref="BrokerChannelLog"/>); an older one is a duplicate and dropped; a newer one means
/// pub/sub lost some (a reconnect), which are fetched from the broker's history first; a new epoch (Redis lost its
/// state) restarts the channel's stream with a marker, which tells subscribers with a <c>gap</c> notice.
/// After a reconnect every followed channel catches up the same way without waiting for its next message.
/// </para>
/// </remarks>
internal sealed class ChannelFollower : IAsyncDisposable
{
    private readonly IBrokerEngine _engine;
    private readonly BrokerOptions _options;
    private readonly ChannelRegistry _channels;
    private readonly Func<PendingMessage, bool, ValueTask> _enqueue;
    private readonly ITimer _renewTimer;
    private readonly SemaphoreSlim _inFlightSlots;
    private int _disposed;

    /// <param name="enqueue">Queues a numbered message on its channel's fan-out shard; delivers the shard's queue when the flag says so.</param>
    public ChannelFollower(IBrokerEngine engine, BrokerOptions options, ChannelRegistry channels, Func<PendingMessage, bool, ValueTask> enqueue,
        BrokerMetrics metrics, TimeProvider time)
    {
        _engine = engine;
        _options = options;
        _channels = channels;
        _enqueue = enqueue;
        Metrics = metrics;
        _inFlightSlots = new SemaphoreSlim(options.MaxPublishesInFlight, options.MaxPublishesInFlight);
        if (engine.IsConnected)
        {
            metrics.Connected();
        }
        else
        {
            metrics.Disconnected();
        }

        engine.Disconnected += metrics.Disconnected;
        engine.Reconnected += OnReconnected;
        engine.BatchEnded += DeliverNow;
        channels.ChannelRemoved += Unfollow;
        // One timer for the broker's upkeep: renew the state of followed channels, and measure the round trip.
        TimeSpan every = TimeSpan.FromMilliseconds(Math.Clamp(options.Redis.MinStateTtl.TotalMilliseconds / 4, 1_000, 15_000));
        _renewTimer = time.CreateTimer(_ => Upkeep(), null, every, every);
    }

    public BrokerMetrics Metrics { get; }

    public bool IsConnected => _engine.IsConnected;

    /// <summary>Messages shed on arrival (see <see cref="BrokerOptions.MaxQueuedPerChannel"/>).</summary>
    public long MessagesShed => _engine.MessagesShed;

    // ---- publish ----

    /// <summary>
    /// Publishes one message through the broker. The data is copied into a pooled buffer at once; the task completes
    /// when the broker confirmed it (<see cref="PublishOutcome.Queued"/>) or failed (<see cref="PublishOutcome.Unavailable"/>).
    /// </summary>
    public ValueTask<PublishResult> PublishAsync(string channel, NamespaceOptions settings, ReadOnlySpan<byte> data)
    {
        if (!TryTakeSlot())
        {
            return ValueTask.FromResult(new PublishResult(PublishOutcome.Unavailable, 0));
        }

        byte[] copy = PendingMessage.DataPool.Rent(data.Length);
        data.CopyTo(copy);
        return new ValueTask<PublishResult>(SendAsync(channel, settings, copy, data.Length));
    }

    /// <summary>A conflated message whose interval ended: sent like any publish (its pooled buffer is taken over). False when refused.</summary>
    public bool TryPublishConflated(in PendingMessage message)
    {
        if (!TryTakeSlot())
        {
            return false;
        }

        _ = SendAsync(message.Channel.Name, message.Channel.Settings, message.Data, message.Length);
        return true;
    }

    private bool TryTakeSlot()
    {
        if (_engine.IsConnected && _inFlightSlots.Wait(0))
        {
            return true;
        }

        Metrics.PublishRefused();
        return false;
    }

    private async Task<PublishResult> SendAsync(string channel, NamespaceOptions settings, byte[] data, int length)
    {
        long started = Metrics.PublishStarted();
        bool confirmed = false;
        try
        {
            await _engine.PublishAsync(channel, settings, data.AsMemory(0, length)).ConfigureAwait(false);
            confirmed = true;
            return new PublishResult(PublishOutcome.Queued, 0);
        }
#pragma warning disable CA1031 // Any failure of the broker is an unavailable broker to the publisher.
        catch (Exception)
#pragma warning restore CA1031
        {
            return new PublishResult(PublishOutcome.Unavailable, 0);
        }
        finally
        {
            Metrics.PublishEnded(started, confirmed);
            _inFlightSlots.Release();
            PendingMessage.DataPool.Return(data);
        }
    }

    // ---- follow ----

    /// <summary>
    /// Makes sure this node follows <paramref name="name"/>: completes at once when it does, else when the first read
    /// is done. False when the broker could not be reached in time (the subscribe then gets <c>unavailable</c>).
    /// </summary>
    public ValueTask<bool> FollowAsync(string name, NamespaceOptions settings)
    {
        while (true)
        {
            Channel channel = _channels.GetOrCreateIdle(name, settings);
            ChannelInterest interest;
            bool start = false;
            lock (channel.SyncRoot)
            {
                if (channel.IsRemoved)
                {
                    continue;
                }

                if (channel.Interest is null)
                {
                    channel.Interest = new ChannelInterest(channel);
                    start = true;
                }

                interest = channel.Interest;
            }

            if (interest.IsReady)
            {
                return ValueTask.FromResult(true);
            }

            if (start)
            {
                _ = StartFollowingAsync(interest);
            }

            return new ValueTask<bool>(interest.Ready.WaitAsync(_options.FollowTimeout).ContinueWith(
                static t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default));
        }
    }

    /// <summary>True when a subscriber may join <paramref name="channel"/> now: its position is the broker's.</summary>
    public static bool IsReady(Channel channel) => channel.Interest is { IsReady: true, Dropped: false };

    private async Task StartFollowingAsync(ChannelInterest interest)
    {
        Channel channel = interest.Channel;
        await interest.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            interest.Subscription = await _engine.SubscribeAsync(channel.Name, message => ReceiveAsync(interest, message)).ConfigureAwait(false);
            Metrics.FollowChanged(+1);
            int count = RedisEngine.HistorySize(channel.Settings);
            BrokerStream stream = await _engine.ReadAsync(channel.Name, channel.Settings, -1, count).ConfigureAwait(false);
            // Nothing of this channel is in the fan-out yet (the node just started following it), so its state is set here.
            long nowMs = Environment.TickCount64;
            if (channel.History is { } history)
            {
                lock (history.SyncRoot)
                {
                    history.Clear();
                    foreach (BrokerMessage message in stream.Messages)
                    {
                        history.AppendNumbered(channel, message.Seq, Copy(message.Data.Span), message.Data.Length, nowMs - Math.Max(0, stream.NowMs - message.AtMs), restart: false);
                    }

                    channel.SetEpoch(stream.Epoch);
                    Volatile.Write(ref channel.LastSequence, stream.Seq);
                }
            }
            else
            {
                channel.SetEpoch(stream.Epoch);
                Volatile.Write(ref channel.LastSequence, stream.Seq);
            }

            Volatile.Write(ref channel.DeliveredThrough, stream.Seq);
            interest.Epoch = stream.Epoch;
            interest.LastSeq = stream.Seq;
            Interlocked.MemoryBarrier();
            interest.SetReady(!interest.Dropped);
        }
#pragma warning disable CA1031 // The broker unreachable: this attempt fails, the next subscribe tries again.
        catch (Exception)
#pragma warning restore CA1031
        {
            Metrics.FollowFailed();
            await GiveUpAsync(interest).ConfigureAwait(false);
        }
        finally
        {
            interest.Gate.Release();
        }
    }

    /// <summary>A follow that failed: the channel forgets it, so the next subscriber starts over.</summary>
    private async Task GiveUpAsync(ChannelInterest interest)
    {
        lock (interest.Channel.SyncRoot)
        {
            if (ReferenceEquals(interest.Channel.Interest, interest))
            {
                interest.Channel.Interest = null;
            }
        }

        interest.Dropped = true;
        interest.SetReady(false);
        await EndSubscriptionAsync(interest).ConfigureAwait(false);
    }

    /// <summary>The channel left the registry (no local subscriber for <see cref="BrokerOptions.InterestLinger"/>): stop following it.</summary>
    private void Unfollow(Channel channel)
    {
        if (channel.Interest is not { } interest || interest.Dropped)
        {
            return;
        }

        interest.Dropped = true;
        interest.SetReady(false);
        _ = EndSubscriptionAsync(interest);
    }

    private async Task EndSubscriptionAsync(ChannelInterest interest)
    {
        // Under the gate: a subscription still being made is ended once it exists.
        await interest.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (interest.Subscription is { } subscription)
            {
                interest.Subscription = null;
                Metrics.FollowChanged(-1);
                await subscription.DisposeAsync().ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // The broker unreachable: its side of the subscription ended with the connection.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            interest.Gate.Release();
        }
    }

    // ---- receive ----

    /// <summary>
    /// One message from the broker, on the engine's receiving thread. Its data lies in the engine's read buffer, valid
    /// only during this call. The common case (the gate free, the next number of the same epoch) is handed to the fan-out
    /// right here; anything else (the gate taken by a read or an earlier message, a hole to refill, a new epoch) gets a
    /// copy of the data and goes on asynchronously, in order behind the gate (its waiters are served first come, first served).
    /// </summary>
    private Task ReceiveAsync(ChannelInterest interest, BrokerMessage message)
    {
        if (!interest.Gate.Wait(0))
        {
            return ReceiveQueuedAsync(interest, Detach(message));
        }

        bool release = true;
        try
        {
            if (interest.Dropped || !interest.IsReady)
            {
                return Task.CompletedTask;
            }

            if (message.Seq != interest.LastSeq + 1 || !string.Equals(message.Epoch, interest.Epoch, StringComparison.Ordinal))
            {
                release = false;
                return ReceiveLockedAsync(interest, Detach(message));
            }

            Metrics.MessageReceived();
            ValueTask handed = HandOver(interest, message);
            if (handed.IsCompletedSuccessfully)
            {
                return Task.CompletedTask;
            }

            release = false;
            return ReleaseAfterAsync(interest, handed);
        }
        finally
        {
            if (release)
            {
                interest.Gate.Release();
            }
        }
    }

    /// <summary>A message's own copy of its data, for the asynchronous path; delivered as soon as it is handed over.</summary>
    private static BrokerMessage Detach(BrokerMessage message) => message with { Data = message.Data.ToArray(), MoreWaiting = false };

    private static async Task ReleaseAfterAsync(ChannelInterest interest, ValueTask handed)
    {
        try
        {
            await handed.ConfigureAwait(false);
        }
        finally
        {
            interest.Gate.Release();
        }
    }

    private async Task ReceiveQueuedAsync(ChannelInterest interest, BrokerMessage message)
    {
        await interest.Gate.WaitAsync().ConfigureAwait(false);
        await ReceiveLockedAsync(interest, message).ConfigureAwait(false);
    }

    /// <summary>The general case, under the gate (released here): duplicates, holes, new epochs.</summary>
    private async Task ReceiveLockedAsync(ChannelInterest interest, BrokerMessage message)
    {
        try
        {
            if (interest.Dropped || !interest.IsReady)
            {
                return;
            }

            Metrics.MessageReceived();
            if (!string.Equals(message.Epoch, interest.Epoch, StringComparison.Ordinal))
            {
                await RestartAsync(interest, message.Epoch).ConfigureAwait(false);
            }

            if (message.Seq <= interest.LastSeq)
            {
                Metrics.DuplicateDropped();
                return;
            }

            if (message.Seq > interest.LastSeq + 1)
            {
                await RefillAsync(interest, message.Seq - 1).ConfigureAwait(false);
            }

            await HandOver(interest, message).ConfigureAwait(false);
        }
        finally
        {
            interest.Gate.Release();
        }
    }

    /// <summary>The engine handed over one read's messages: the fan-out delivers what they queued, in one batch.</summary>
    private void DeliverNow() => _ = _enqueue(default, true);

    /// <summary>The broker's stream of this channel restarted in <paramref name="epoch"/>: a marker goes through the fan-out first.</summary>
    private async Task RestartAsync(ChannelInterest interest, string epoch)
    {
        Metrics.Restarted();
        interest.Epoch = epoch;
        interest.LastSeq = 0;
        await _enqueue(new PendingMessage(interest.Channel, null!, 0, Sequence: 0, Epoch: epoch), false).ConfigureAwait(false);
    }

    /// <summary>
    /// Fetches what the node missed after <see cref="ChannelInterest.LastSeq"/> (up to <paramref name="through"/>, or all
    /// the broker has) from the broker's history and hands it over. What the broker no longer has stays a hole, which
    /// the log announces with the next message.
    /// </summary>
    private async Task RefillAsync(ChannelInterest interest, long through)
    {
        int size = RedisEngine.HistorySize(interest.Channel.Settings);
        if (size == 0)
        {
            return;
        }

        BrokerStream stream;
        try
        {
            long missing = through - interest.LastSeq;
            stream = await _engine.ReadAsync(interest.Channel.Name, interest.Channel.Settings, interest.LastSeq, (int)Math.Min(missing, size)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Unreachable again: the hole is announced instead.
        catch (Exception)
#pragma warning restore CA1031
        {
            return;
        }

        if (!string.Equals(stream.Epoch, interest.Epoch, StringComparison.Ordinal))
        {
            return; // restarted meanwhile: the live message that follows says so
        }

        int refilled = 0;
        foreach (BrokerMessage missed in stream.Messages)
        {
            if (missed.Seq > interest.LastSeq && missed.Seq <= through)
            {
                await HandOver(interest, missed with { MoreWaiting = true }).ConfigureAwait(false);
                refilled++;
            }
        }

        Metrics.Refill(refilled);
    }

    /// <summary>After a reconnect: each followed channel catches up with what was published while the node was cut off.</summary>
    private async Task CatchUpAsync(ChannelInterest interest)
    {
        await interest.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (interest.Dropped || !interest.IsReady)
            {
                return;
            }

            // Subscribe again and wait for Redis to confirm before reading: the client re-subscribes by itself after a
            // reconnect, but maybe not yet, and what is published between a read and a late re-subscription would wait
            // for the channel's next message. A copy received on both subscriptions meanwhile is dropped as a duplicate.
            IAsyncDisposable fresh = await _engine.SubscribeAsync(interest.Channel.Name, message => ReceiveAsync(interest, message)).ConfigureAwait(false);
            IAsyncDisposable? previous = interest.Subscription;
            interest.Subscription = fresh;
            if (previous is not null)
            {
                await previous.DisposeAsync().ConfigureAwait(false);
            }

            BrokerStream head = await _engine.ReadAsync(interest.Channel.Name, interest.Channel.Settings, 0, 0).ConfigureAwait(false);
            if (!string.Equals(head.Epoch, interest.Epoch, StringComparison.Ordinal))
            {
                await RestartAsync(interest, head.Epoch).ConfigureAwait(false);
            }

            if (head.Seq > interest.LastSeq)
            {
                await RefillAsync(interest, head.Seq).ConfigureAwait(false);
            }

            // What the catch-up queued goes out now, as one batch.
            await _enqueue(default, true).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Cut off again: the next reconnect tries again.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            interest.Gate.Release();
        }
    }

    /// <summary>Queues the message on its channel's fan-out shard (a pooled copy of its data), delivering now unless more are coming.</summary>
    private ValueTask HandOver(ChannelInterest interest, BrokerMessage message)
    {
        interest.LastSeq = message.Seq;
        return _enqueue(new PendingMessage(interest.Channel, Copy(message.Data.Span), message.Data.Length, Sequence: message.Seq, Epoch: interest.Epoch),
            !message.MoreWaiting);
    }

    private static byte[] Copy(ReadOnlySpan<byte> data)
    {
        byte[] copy = PendingMessage.DataPool.Rent(data.Length);
        data.CopyTo(copy);
        return copy;
    }

    // ---- upkeep ----

    private void OnReconnected()
    {
        Metrics.Connected();
        foreach (Channel channel in _channels.Channels)
        {
            if (channel.Interest is { } interest)
            {
                _ = CatchUpAsync(interest);
            }
        }
    }

    private void Upkeep()
    {
        if (!_engine.IsConnected)
        {
            return;
        }

        foreach (Channel channel in _channels.Channels)
        {
            if (channel.Interest is { IsReady: true, Dropped: false })
            {
                _engine.Renew(channel.Name, channel.Settings);
            }
        }

        _ = MeasureAsync();
    }

    private async Task MeasureAsync()
    {
        try
        {
            long started = Stopwatch.GetTimestamp();
            await _engine.PingAsync().ConfigureAwait(false);
            Metrics.RoundTrip(Stopwatch.GetTimestamp() - started);
        }
#pragma warning disable CA1031 // A failed ping: the connection events report the loss.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _renewTimer.DisposeAsync().ConfigureAwait(false);
        _channels.ChannelRemoved -= Unfollow;
        _engine.BatchEnded -= DeliverNow;
        await _engine.DisposeAsync().ConfigureAwait(false);
    }
}
