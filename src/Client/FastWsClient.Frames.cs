using System.Diagnostics;
using System.Text.Json;

namespace FastWs.Client;

/// <summary>What the server sends: data into the subscriptions' buffers (in order, once), acks with their positions and resets, errors, gap notices, token warnings.</summary>
public sealed partial class FastWsClient
{
    private async ValueTask OnFrameAsync(ClientConnection connection, ReadOnlyMemory<byte> frame, CancellationToken stop)
    {
        JsonElement root;
        try
        {
            var reader = new Utf8JsonReader(frame.Span);
            root = JsonElement.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            RaiseError(new FastWsException("bad_frame", "a frame that is not JSON"));
            return;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            Raise(MessageReceived, new FastWsDirectMessageEventArgs(root));
            return;
        }

        // A data message, in either format, has a string channel and a number seq; no reply or notice has a top-level seq.
        if (root.TryGetProperty("channel"u8, out JsonElement channel) && channel.ValueKind == JsonValueKind.String
            && root.TryGetProperty("seq"u8, out JsonElement seq) && seq.ValueKind == JsonValueKind.Number && seq.TryGetInt64(out long n))
        {
            await OnDataAsync(channel.GetString()!, n, root, stop).ConfigureAwait(false);
            return;
        }

        string? type = root.TryGetProperty("type"u8, out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "connected":
                OnConnected(connection, root);
                break;
            case "subscribed":
                await OnSubscribedAsync(root, stop).ConfigureAwait(false);
                break;
            case "unsubscribed":
                OnUnsubscribed(root);
                break;
            case "error":
                await OnErrorAsync(root, stop).ConfigureAwait(false);
                break;
            case "gap":
                await OnGapAsync(root, stop).ConfigureAwait(false);
                break;
            case "pong":
                break; // the liveness ping's answer: any frame counts
            case "authenticated":
                Settle(IdOf(root));
                break;
            case "token_expiring":
                OnTokenExpiring(root);
                break;
            default:
                Raise(MessageReceived, new FastWsDirectMessageEventArgs(root));
                break;
        }
    }

    private void OnConnected(ClientConnection connection, JsonElement message)
    {
        string id = message.TryGetProperty("connectionId"u8, out JsonElement c) ? c.GetString() ?? "" : "";
        string? user = message.TryGetProperty("user"u8, out JsonElement u) ? u.GetString() : null;
        bool reconnected;
        lock (Gate)
        {
            connection.ConnectedAt = Stopwatch.GetTimestamp();
            reconnected = _connectedOnce;
            _connectedOnce = true;
            ConnectionId = id;
        }

        SetState(FastWsClientState.Open);
        _firstOpen.TrySetResult();
        Raise(Opened, new FastWsOpenedEventArgs(id, user, reconnected));
    }

    private async ValueTask OnDataAsync(string channel, long seq, JsonElement message, CancellationToken stop)
    {
        FastWsSubscription? subscription;
        bool snapshot = message.TryGetProperty("snapshot"u8, out JsonElement s) && s.ValueKind == JsonValueKind.True;
        long? hole = null;
        string epoch;
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out subscription) || subscription.Status != SubscriptionStatus.Active)
            {
                return; // not ours, or a stream being recovered: the replay after the ack brings these messages again
            }

            long? last = subscription.Seq;
            if (!snapshot && last is long l && seq <= l)
            {
                return; // already handed on (a replay overlapping a delivery)
            }

            if (!snapshot && last is long before && seq > before + 1)
            {
                // FastWs announces every skip with a gap notice; should a hole come without one, recover it the same way.
                hole = before;
                subscription.Status = SubscriptionStatus.Regap;
            }
            else
            {
                subscription.Seq = seq;
            }

            epoch = subscription.Epoch ?? "";
        }

        if (hole is long from)
        {
            Raise(Gap, new FastWsGapEventArgs(channel, from + 1, seq - 1));
            await FlushAsync(stop).ConfigureAwait(false);
            return;
        }

        await WriteAsync(subscription, FastWsMessage.FromData(channel, epoch, seq, snapshot, message), stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands an item to the subscription's buffer. When it is full this waits, and with it the socket reader: the
    /// backpressure of a reader that does not keep up (README, "Backpressure").
    /// </summary>
    private static async ValueTask WriteAsync(FastWsSubscription subscription, FastWsMessage item, CancellationToken stop)
    {
        try
        {
            if (!subscription.Writer.TryWrite(item))
            {
                await subscription.Writer.WriteAsync(item, stop).ConfigureAwait(false);
            }
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            // Unsubscribed meanwhile.
        }
    }

    private async ValueTask OnSubscribedAsync(JsonElement message, CancellationToken stop)
    {
        long? id = IdOf(message);
        var resets = new List<(FastWsSubscription Subscription, FastWsPosition Position, FastWsPosition Previous)>();
        var acks = new List<(FastWsSubscription Subscription, FastWsPosition? Position)>();
        HashSet<string> recovered = Names(message, "recovered"u8);
        HashSet<string> listed = Names(message, "channels"u8);
        JsonElement positions = message.TryGetProperty("positions"u8, out JsonElement p) && p.ValueKind == JsonValueKind.Object ? p : default;
        lock (Gate)
        {
            PendingRequest? request = null;
            if (id is long key && _pending.Remove(key, out PendingRequest? found))
            {
                request = found;
            }

            foreach (string name in listed)
            {
                if (!_channels.TryGetValue(name, out FastWsSubscription? subscription) || subscription.Status == SubscriptionStatus.Queued)
                {
                    continue; // left meanwhile, or queued again for a later request
                }

                subscription.Status = SubscriptionStatus.Active;
                FastWsPosition? position = ReadPosition(positions, name);
                if (position is { } pos)
                {
                    FastWsPosition? previous = subscription.Epoch is { } e && subscription.Seq is long q ? new FastWsPosition(e, q) : null;
                    if (recovered.Contains(name))
                    {
                        subscription.Epoch = pos.Epoch; // messages previous.Seq+1 .. pos.Seq follow now, replayed
                    }
                    else
                    {
                        subscription.Epoch = pos.Epoch;
                        subscription.Seq = pos.Seq;
                        if (previous is { } prev && prev != pos)
                        {
                            // notRecovered (a new epoch after a restart or expiry, or a history too short): start over here.
                            resets.Add((subscription, pos, prev));
                        }
                    }
                }

                if (!subscription.Acked)
                {
                    acks.Add((subscription, position));
                }
            }

            if (request is { Kind: RequestKind.Subscribe })
            {
                foreach (string name in request.Channels)
                {
                    if (!listed.Contains(name) && _channels.TryGetValue(name, out FastWsSubscription? held)
                        && held.Status is SubscriptionStatus.Subscribing or SubscriptionStatus.Recovering)
                    {
                        held.Status = SubscriptionStatus.Waiting; // held by the server until the connection's token comes
                    }
                }
            }
        }

        // The reset goes into the stream before anything else of the channel: the snapshot, if any, follows this frame.
        foreach ((FastWsSubscription subscription, FastWsPosition position, FastWsPosition previous) in resets)
        {
            await WriteAsync(subscription, FastWsMessage.ForReset(subscription.Channel, position, previous), stop).ConfigureAwait(false);
            Raise(Reset, new FastWsResetEventArgs(subscription.Channel, position, previous));
        }

        foreach ((FastWsSubscription subscription, FastWsPosition? position) in acks)
        {
            subscription.Acknowledge(position);
        }
    }

    private void OnUnsubscribed(JsonElement message)
    {
        if (IdOf(message) is long id)
        {
            Settle(id);
            return;
        }

        if (!message.TryGetProperty("reason"u8, out JsonElement reason))
        {
            return;
        }

        // The server removed subscriptions (a refreshed token lost the role they needed): their streams end with it.
        foreach (string name in Names(message, "channels"u8))
        {
            FastWsSubscription? subscription;
            lock (Gate)
            {
                if (!_channels.Remove(name, out subscription))
                {
                    continue;
                }
            }

            var error = new FastWsException("forbidden", reason.GetString() ?? "unsubscribed by the server", name);
            subscription.End(error, error);
            RaiseError(error);
        }
    }

    private async ValueTask OnErrorAsync(JsonElement message, CancellationToken stop)
    {
        string code = message.TryGetProperty("code"u8, out JsonElement c) ? c.GetString() ?? "error" : "error";
        string text = message.TryGetProperty("message"u8, out JsonElement m) ? m.GetString() ?? code : code;
        string? channel = message.TryGetProperty("channel"u8, out JsonElement ch) && ch.ValueKind == JsonValueKind.String ? ch.GetString() : null;
        var error = new FastWsException(code, text, channel);
        PendingRequest? request = null;
        long? id = IdOf(message);
        lock (Gate)
        {
            if (id is long key && _pending.TryGetValue(key, out PendingRequest? found))
            {
                request = found;
                if (found.Kind != RequestKind.Subscribe || channel is null)
                {
                    _pending.Remove(key); // a subscribe's ack still comes for the channels it did not refuse
                }
            }
        }

        bool temporary = code is "rate_limited" or "unavailable";
        if (request is { Kind: RequestKind.Subscribe })
        {
            foreach (string name in channel is null ? request.Channels : [channel])
            {
                await RefuseAsync(name, error, temporary, stop).ConfigureAwait(false);
            }

            return;
        }

        if (request is not null)
        {
            request.Completion?.TrySetException(error);
            RaiseError(error);
            return;
        }

        if (channel is not null && code == "forbidden")
        {
            // A subscription that waited for a token which never came.
            await RefuseAsync(channel, error, false, stop).ConfigureAwait(false);
            return;
        }

        RaiseError(error);
    }

    /// <summary>A subscribe refused for one channel: retried in 5 s when the refusal is temporary and the channel was acked before, dropped otherwise.</summary>
    private Task RefuseAsync(string channel, FastWsException error, bool temporary, CancellationToken stop)
    {
        FastWsSubscription? subscription;
        bool retry = false;
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out subscription))
            {
                return Task.CompletedTask;
            }

            if (temporary && subscription.Acked)
            {
                // A resubscribe after a reconnect or gap hit the rate limit: try again (the limit is a sliding minute).
                subscription.Status = SubscriptionStatus.Queued;
                retry = !_retryScheduled;
                _retryScheduled = true;
            }
            else
            {
                _channels.Remove(channel);
            }
        }

        RaiseError(error);
        if (retry)
        {
            _ = RetryLaterAsync(stop);
        }
        else if (!temporary || !subscription.Acked)
        {
            subscription.End(error, error);
        }

        return Task.CompletedTask;
    }

    private async Task RetryLaterAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(5), stop).ConfigureAwait(false);
            lock (Gate)
            {
                _retryScheduled = false;
            }

            await FlushAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private async ValueTask OnGapAsync(JsonElement message, CancellationToken stop)
    {
        string channel = message.TryGetProperty("channel"u8, out JsonElement c) ? c.GetString() ?? "" : "";
        long from = message.TryGetProperty("from"u8, out JsonElement f) && f.ValueKind == JsonValueKind.Number && f.TryGetInt64(out long a) ? a : 0;
        // "to" is null when the stream restarted in a new epoch (several nodes): recovered the same way.
        long? to = message.TryGetProperty("to"u8, out JsonElement t) && t.ValueKind == JsonValueKind.Number && t.TryGetInt64(out long b) ? b : null;
        Raise(Gap, new FastWsGapEventArgs(channel, from, to));
        lock (Gate)
        {
            if (!_channels.TryGetValue(channel, out FastWsSubscription? subscription) || subscription.Status != SubscriptionStatus.Active)
            {
                return;
            }

            // Leave and come back with since = the last message before the gap; ignore the channel until the new ack.
            subscription.Status = SubscriptionStatus.Regap;
        }

        await FlushAsync(stop).ConfigureAwait(false);
    }

    private void OnTokenExpiring(JsonElement message)
    {
        int seconds = message.TryGetProperty("in"u8, out JsonElement s) && s.TryGetInt32(out int v) ? v : 0;
        if (_options.RefreshToken is not { } refresh)
        {
            Raise(TokenExpiring, new FastWsTokenExpiringEventArgs(seconds));
            return;
        }

        lock (Gate)
        {
            if (_refreshing)
            {
                return;
            }

            _refreshing = true;
        }

        _ = RefreshAsync(refresh);
    }

    /// <summary>Asks the application for a new token off the receive loop, and sends it.</summary>
    private async Task RefreshAsync(Func<TokenRefreshReason, CancellationToken, ValueTask<string?>> refresh)
    {
        try
        {
            string? token = await refresh(TokenRefreshReason.Expiring, _stop.Token).ConfigureAwait(false);
            if (string.IsNullOrEmpty(token))
            {
                RaiseError(new FastWsException("token_refresh_failed", "RefreshToken returned no token"));
            }
            else
            {
                SetToken(token);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            RaiseError(new FastWsException("token_refresh_failed", "RefreshToken failed: " + ex.Message));
        }
        finally
        {
            lock (Gate)
            {
                _refreshing = false;
            }
        }
    }
}
