using System.Net.WebSockets;

namespace FastWs.Client;

/// <summary>What the client sends: subscribes (with since), unsubscribes, auth, pings; one send at a time.</summary>
public sealed partial class FastWsClient
{
    /// <summary>
    /// Sends one subscribe for every queued channel, with <c>since</c> where a position is known, and for channels after a
    /// gap an unsubscribe right before it (the server does not re-join a channel the connection already has).
    /// </summary>
    internal async Task FlushAsync(CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ClientConnection? connection;
            byte[]? leave = null;
            byte[] join;
            lock (Gate)
            {
                connection = _connection;
                if (connection is null || _stopped)
                {
                    return;
                }

                var regap = new List<string>();
                var queued = new List<FastWsSubscription>();
                foreach (FastWsSubscription subscription in _channels.Values)
                {
                    if (subscription.Status == SubscriptionStatus.Regap)
                    {
                        regap.Add(subscription.Channel);
                        queued.Add(subscription);
                    }
                    else if (subscription.Status == SubscriptionStatus.Queued)
                    {
                        queued.Add(subscription);
                    }
                }

                if (queued.Count == 0)
                {
                    return;
                }

                if (regap.Count > 0)
                {
                    leave = WireRequests.Unsubscribe(regap, ++_nextId);
                }

                var since = new Dictionary<string, FastWsPosition>(StringComparer.Ordinal);
                foreach (FastWsSubscription subscription in queued)
                {
                    if (subscription.Epoch is { } epoch && subscription.Seq is long seq)
                    {
                        since[subscription.Channel] = new FastWsPosition(epoch, seq);
                        subscription.Status = SubscriptionStatus.Recovering; // ignore its messages until the ack says what follows
                    }
                    else
                    {
                        subscription.Status = SubscriptionStatus.Subscribing;
                    }
                }

                string[] channels = [.. queued.Select(s => s.Channel)];
                long id = ++_nextId;
                _pending[id] = new PendingRequest(RequestKind.Subscribe, channels, null);
                join = WireRequests.Subscribe(channels, since, id);
            }

            if (leave is not null)
            {
                await connection.Socket.SendAsync(leave, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
            }

            await connection.Socket.SendAsync(join, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            // The connection is going: its end queues every channel again for the next one.
        }
        finally
        {
            _sendLock.Release();
        }
    }

    internal async Task LeaveAsync(FastWsSubscription subscription, CancellationToken ct)
    {
        ClientConnection? connection;
        long id = 0;
        TaskCompletionSource? answered = null;
        lock (Gate)
        {
            if (!_channels.TryGetValue(subscription.Channel, out FastWsSubscription? current) || current != subscription)
            {
                return; // gone already
            }

            _channels.Remove(subscription.Channel);
            // Sent whenever the subscribe may have gone out on the open socket (also before its connected message).
            connection = subscription.Status != SubscriptionStatus.Queued ? _connection : null;
            if (connection is not null)
            {
                id = ++_nextId;
                answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _pending[id] = new PendingRequest(RequestKind.Unsubscribe, [subscription.Channel], answered);
            }
        }

        subscription.End(null, new FastWsException("unsubscribed", "unsubscribed before the server acknowledged", subscription.Channel));
        if (connection is null || answered is null)
        {
            return;
        }

        if (!await SendAsync(connection, WireRequests.Unsubscribe([subscription.Channel], id), ct).ConfigureAwait(false))
        {
            return; // the connection is going: nothing is subscribed without one
        }

        await answered.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    private async Task LeaveQuietlyAsync(FastWsSubscription subscription)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.RequestTimeout);
            await LeaveAsync(subscription, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or FastWsException)
        {
            // Best effort.
        }
    }

    private async Task SendAuthAsync(ClientConnection connection, string token, CancellationToken ct)
    {
        long id;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (Gate)
        {
            id = ++_nextId;
            _pending[id] = new PendingRequest(RequestKind.Auth, [], answered);
        }

        _ = answered.Task.Exception; // a refusal is reported as an Error event (and a 4001 close follows)
        await SendAsync(connection, WireRequests.Auth(token, id), ct).ConfigureAwait(false);
    }

    /// <summary>Sends one text message; false when the connection is gone.</summary>
    private async Task<bool> SendAsync(ClientConnection connection, byte[] message, CancellationToken ct)
    {
        try
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await connection.Socket.SendAsync(message, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
                return true;
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException or IOException)
        {
            return false;
        }
    }

    private void Settle(long? id)
    {
        if (id is not long key)
        {
            return;
        }

        PendingRequest? request;
        lock (Gate)
        {
            if (!_pending.Remove(key, out request))
            {
                return;
            }
        }

        request.Completion?.TrySetResult();
    }
}
