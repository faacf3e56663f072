using System.Globalization;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Auth;
using FastWs.Server.Broker;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;

namespace FastWs.Server.Messages;

/// <summary>
/// Carries out one JSON text message from a client and writes its replies (acks, errors, pong) to that client.
/// A bad message gets an error reply and the connection stays open. Replies are written, not flushed: the
/// connection's read loop flushes once per batch of received frames.
/// </summary>
internal sealed class ClientRequestHandler
{
    /// <summary>Longest escaped JSON string worth decoding as a channel name (every char could be a 6-byte \u escape).</summary>
    private const int MaxEscapedNameBytes = ChannelName.MaxLength * 6;

    private readonly SubscriptionManager _subscriptions;
    private readonly ServerState _state;
    private readonly MessagePublisher _publisher;
    private readonly ServerMetrics _metrics;
    private readonly LimitOptions _limits;
    private readonly long _messageWindowMs;
    private readonly string _rateLimitMessage;
    private readonly ChannelFollower? _broker;
    private readonly int _maxBrokerPublishesPerConnection;

    public ClientRequestHandler(SubscriptionManager subscriptions, ServerState state)
    {
        _subscriptions = subscriptions;
        _state = state;
        _publisher = state.Publisher;
        _metrics = state.Metrics;
        _limits = state.Options.Limits;
        _messageWindowMs = (long)_limits.MessageWindow.TotalMilliseconds;
        _broker = state.Publisher.Broker;
        _maxBrokerPublishesPerConnection = state.Options.Broker.MaxPublishesInFlightPerConnection;
        _rateLimitMessage = string.Create(CultureInfo.InvariantCulture, $"At most {_limits.MaxMessagesPerWindow} messages per {_limits.MessageWindow.TotalSeconds} s");
    }

    /// <summary>
    /// Handles a text message. When a publish has to wait for room in a fan-out queue, the wait is returned
    /// in <paramref name="pendingPublish"/> for the read loop to await (which pushes back on that publisher).
    /// Returns false when the connection must end (it has been sent a close frame).
    /// </summary>
    public bool Handle(WebSocketConnection connection, ReadOnlySpan<byte> json, out ValueTask<PublishResult> pendingPublish)
    {
        pendingPublish = default;
        bool parsed = ClientRequestParser.TryParse(json, out ClientRequest request, out string error);
        if (!WithinRateLimit(connection, parsed && request.Type == ClientRequestType.Publish, out bool keepOpen))
        {
            if (keepOpen)
            {
                SendError(connection, ErrorCode.RateLimited, _rateLimitMessage, default, parsed ? request.Id : default);
            }

            return keepOpen;
        }

        if (!parsed)
        {
            SendError(connection, ErrorCode.BadRequest, error, default, default);
            return true;
        }

        switch (request.Type)
        {
            case ClientRequestType.Subscribe:
                if (_broker is not null && ChannelsToFollow(request) is { } toFollow)
                {
                    // Several nodes: a channel new to this node is followed in the broker first. This connection's
                    // reads wait for that (its later requests keep their order); other connections go on.
                    pendingPublish = new ValueTask<PublishResult>(SubscribeWhenFollowedAsync(connection, json.ToArray(), toFollow));
                    break;
                }

                using (connection.HoldOutput())
                {
                    if (!HandleSubscription(connection, request, subscribe: true))
                    {
                        return false;
                    }
                }

                break;
            case ClientRequestType.Unsubscribe:
                HandleSubscription(connection, request, subscribe: false);
                break;
            case ClientRequestType.Publish:
                pendingPublish = HandlePublish(connection, request);
                break;
            case ClientRequestType.Ping:
                SendPong(connection, request.Id);
                break;
            case ClientRequestType.Auth:
                using (connection.HoldOutput())
                {
                    return HandleAuth(connection, request, ref pendingPublish);
                }

            default:
                SendError(connection, ErrorCode.BadRequest, "Unknown message type; expected subscribe, unsubscribe, publish, ping or auth", default, request.Id);
                break;
        }

        return true;
    }

    /// <summary>
    /// Publishes from a connection allowed to publish count against the publish limit (per second, high, for feed
    /// handlers); everything else against the per-connection message limit. Over the limit the message is refused
    /// with rate_limited; a client that collects more than the allowed number of those is closed with 1008.
    /// </summary>
    private bool WithinRateLimit(WebSocketConnection connection, bool isPublish, out bool keepOpen)
    {
        keepOpen = true;
        long now = Environment.TickCount64;
        bool allowed = isPublish && connection.CanPublish
            ? connection.PublishRate.TryAcquire(now, _limits.MaxPublishesPerSecond, 1000)
            : connection.MessageRate.TryAcquire(now, _limits.MaxMessagesPerWindow, _messageWindowMs);
        if (allowed)
        {
            return true;
        }

        _metrics.RateLimitHit();
        if (_limits.MaxRateLimitErrors > 0 && ++connection.RateLimitErrors > _limits.MaxRateLimitErrors)
        {
            _state.Log.RateLimitClosed(connection, connection.RateLimitErrors);
            connection.TrySendClose(CloseCode.PolicyViolation, "Rate limit exceeded repeatedly");
            keepOpen = false;
        }

        return false;
    }

    /// <summary>
    /// Subscribes to channels named in the connect URL (<c>?subscribe=a,b</c>) and acks them. Returns false when a
    /// refusal closed the connection instead (<see cref="KeyGroupLimitAction.Close"/>): nothing after it is applied or acked.
    /// </summary>
    /// <param name="since">Positions to recover from (subscriptions that waited for a token keep theirs).</param>
    public bool SubscribeFromQuery(WebSocketConnection connection, IEnumerable<string> names, Dictionary<string, StreamPosition>? since = null)
    {
        using WebSocketConnection.OutputHold ackFirst = connection.HoldOutput();
        using var reply = new SubscribeReply { Since = since };
        foreach (string name in names)
        {
            SubscriptionResult result = _subscriptions.Subscribe(connection, name, reply);
            if (result.ClosesConnection)
            {
                _state.Log.KeyGroupLimitClosed(connection, result.Message);
            connection.TrySendClose(CloseCode.PolicyViolation, result.Message);
                return false;
            }

            if (!result.IsOk && !result.IsPending)
            {
                SendError(connection, result.ErrorCode!, result.Message, name, default);
            }
        }

        SendSubscribed(connection, reply, default);
        return true;
    }

    /// <summary>Applies a subscribe or unsubscribe and acks it; returns false when a refusal closed the connection instead.</summary>
    private bool HandleSubscription(WebSocketConnection connection, ClientRequest request, bool subscribe)
    {
        using var reply = new SubscribeReply();
        if (subscribe && !request.Since.IsEmpty)
        {
            if (!TryParseSince(request.Since, out Dictionary<string, StreamPosition>? since, out string problem))
            {
                SendError(connection, ErrorCode.BadRequest, problem, default, request.Id);
                return true;
            }

            reply.Since = since;
        }

        if (!request.SlabAddress.IsEmpty && request.Channels.IsEmpty)
        {
            // The legacy form: one slab address stands for its price, trades and funding channels.
            Span<char> slab = stackalloc char[ChannelName.MaxLength];
            if (!TryDecodeName(request.SlabAddress, slab, out int slabLength) || slabLength > ChannelName.MaxLength - "funding:".Length)
            {
                SendError(connection, ErrorCode.InvalidChannel, "Invalid slabAddress", default, request.Id);
                SendAck(connection, subscribe, reply, request.Id);
                return true;
            }

            string address = new(slab[..slabLength]);
            if (!ApplyOne(connection, "price:" + address, subscribe, reply, request.Id)
                || !ApplyOne(connection, "trades:" + address, subscribe, reply, request.Id)
                || !ApplyOne(connection, "funding:" + address, subscribe, reply, request.Id))
            {
                return false;
            }
        }
        else if (request.Channels.IsEmpty)
        {
            SendError(connection, ErrorCode.BadRequest, subscribe ? "subscribe needs \"channels\" (or \"slabAddress\")" : "unsubscribe needs \"channels\"", default, request.Id);
            return true;
        }
        else
        {
            var reader = new Utf8JsonReader(request.Channels);
            reader.Read(); // the StartArray the parser already checked
            Span<char> name = stackalloc char[MaxEscapedNameBytes];
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    reader.Skip();
                    SendError(connection, ErrorCode.InvalidChannel, "Channel names must be strings", default, request.Id);
                    continue;
                }

                if (reader.ValueSpan.Length > MaxEscapedNameBytes)
                {
                    SendError(connection, ErrorCode.InvalidChannel, "Channel name is too long", default, request.Id);
                    continue;
                }

                int length = reader.CopyString(name);
                if (!ApplyOne(connection, name[..length], subscribe, reply, request.Id))
                {
                    return false;
                }
            }
        }

        SendAck(connection, subscribe, reply, request.Id);
        return true;
    }

    /// <summary>Subscribes or unsubscribes one channel; returns false when the refusal closed the connection.</summary>
    private bool ApplyOne(WebSocketConnection connection, ReadOnlySpan<char> name, bool subscribe, SubscribeReply reply, ReadOnlySpan<byte> id)
    {
        SubscriptionResult result = subscribe ? _subscriptions.Subscribe(connection, name, reply) : _subscriptions.Unsubscribe(connection, name);
        if (result.IsOk)
        {
            if (!subscribe)
            {
                reply.Channels.Add(new string(name));
            }
        }
        else if (result.ClosesConnection)
        {
            _state.Log.KeyGroupLimitClosed(connection, result.Message);
            connection.TrySendClose(CloseCode.PolicyViolation, result.Message);
            return false;
        }
        else if (!result.IsPending)
        {
            SendError(connection, result.ErrorCode!, result.Message, Truncate(name), id);
        }

        return true;
    }

    private void SendAck(WebSocketConnection connection, bool subscribe, SubscribeReply reply, ReadOnlySpan<byte> id)
    {
        if (subscribe)
        {
            SendSubscribed(connection, reply, id);
        }
        else
        {
            SendChannels(connection, "unsubscribed"u8, reply.Channels, id);
        }
    }

    /// <summary>
    /// <c>{"type":"subscribed","channels":[...],"positions":{"trades:SOL":{"epoch":"...","seq":41}},"recovered":[...],"notRecovered":[...]}</c>,
    /// then the snapshots and replayed messages, before any live message (the output is held by the caller).
    /// </summary>
    private void SendSubscribed(WebSocketConnection connection, SubscribeReply reply, ReadOnlySpan<byte> id)
    {
        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "subscribed"u8);
        WriteNames(json, "channels"u8, reply.Channels);
        json.WriteStartObject("positions"u8);
        foreach ((string channel, StreamPosition position) in reply.Positions)
        {
            json.WriteStartObject(channel);
            json.WriteString("epoch"u8, position.Epoch);
            json.WriteNumber("seq"u8, position.Seq);
            json.WriteEndObject();
        }

        json.WriteEndObject();
        if (reply.Since is not null)
        {
            WriteNames(json, "recovered"u8, reply.Recovered);
            WriteNames(json, "notRecovered"u8, reply.NotRecovered);
        }

        ReplyEncoder.WriteId(json, id);
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());

        if (!reply.WrittenFrames.IsEmpty)
        {
            connection.WriteControl(reply.WrittenFrames);
        }

        if (reply.Since is not null)
        {
            _metrics.Recovery(reply.Recovered.Count, reply.NotRecovered.Count, reply.Replayed);
        }

        if (reply.Snapshots > 0)
        {
            _metrics.SnapshotSent(reply.Snapshots);
        }
    }

    /// <summary>
    /// Parses <c>"since":{"trades:SOL":{"epoch":"...","seq":41},...}</c>. Every entry must have a string epoch and a
    /// non-negative integer seq; at most as many entries as a connection may have subscriptions (or 1,000).
    /// </summary>
    private bool TryParseSince(ReadOnlySpan<byte> raw, out Dictionary<string, StreamPosition>? since, out string problem)
    {
        const string Shape = "\"since\" must map channel names to {\"epoch\":\"...\",\"seq\":N}";
        since = null;
        problem = Shape;
        int limit = _limits.MaxSubscriptionsPerConnection > 0 ? Math.Max(_limits.MaxSubscriptionsPerConnection, 3) : 1000;
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(raw);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueSpan.Length > MaxEscapedNameBytes || result.Count >= limit)
            {
                problem = "\"since\" names too many channels, or too long a name";
                return false;
            }

            string channel = reader.GetString()!;
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            string? epoch = null;
            long seq = -1;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isEpoch = reader.ValueTextEquals("epoch"u8);
                bool isSeq = reader.ValueTextEquals("seq"u8);
                reader.Read();
                if (isEpoch && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= 64)
                {
                    epoch = reader.GetString();
                }
                else if (isSeq && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value) && value >= 0)
                {
                    seq = value;
                }
                else
                {
                    return false;
                }
            }

            if (epoch is null || seq < 0)
            {
                return false;
            }

            result[channel] = new StreamPosition(epoch, seq);
        }

        since = result;
        return true;
    }

    private ValueTask<PublishResult> HandlePublish(WebSocketConnection connection, ClientRequest request)
    {
        Span<char> name = stackalloc char[MaxEscapedNameBytes];
        if (request.Channel.IsEmpty || !TryDecodeName(request.Channel, name, out int length))
        {
            SendError(connection, ErrorCode.BadRequest, "publish needs a \"channel\" string", default, request.Id);
            return default;
        }

        ReadOnlySpan<char> channel = name[..length];
        if (request.Data.IsEmpty)
        {
            SendError(connection, ErrorCode.BadRequest, "publish needs \"data\"", Truncate(channel), request.Id);
            return default;
        }

        SubscriptionResult check = _subscriptions.CheckName(channel, out NamespaceOptions? settings);
        if (!check.IsOk)
        {
            SendError(connection, check.ErrorCode!, check.Message, Truncate(channel), request.Id);
            return default;
        }

        if (_state.Options.Auth.Required && connection.User is null)
        {
            SendError(connection, ErrorCode.Unauthorized, "Send {\"type\":\"auth\",\"token\":...} first: this server requires a token", channel, request.Id);
            return default;
        }

        if (!settings!.Publish.Allows(connection.Caller, ChannelName.Key(channel)))
        {
            SubscriptionResult refusal = SubscriptionManager.Forbidden(settings.Publish, "Publishing", channel);
            SendError(connection, refusal.ErrorCode!, refusal.Message, channel, request.Id);
            return default;
        }

        // Delivered when the read loop has handled the whole read (DeliverQueued): publishes that arrived together go out together.
        ValueTask<PublishResult> publish = _publisher.PublishValidatedAsync(channel, request.Data, CancellationToken.None, deferDelivery: true);
        if (publish.IsCompletedSuccessfully && publish.Result.Outcome == PublishOutcome.ShuttingDown)
        {
            SendError(connection, ErrorCode.Unavailable, "The server is shutting down", channel, request.Id);
            return default;
        }

        if (publish.IsCompletedSuccessfully && publish.Result.Outcome == PublishOutcome.NotAnObject)
        {
            SendError(connection, ErrorCode.BadRequest, NotAnObjectMessage(channel), channel, request.Id);
            return default;
        }

        if (publish.IsCompletedSuccessfully && publish.Result.Outcome == PublishOutcome.Unavailable)
        {
            SendError(connection, ErrorCode.Unavailable, BrokerUnavailableMessage, channel, request.Id);
            return default;
        }

        if (!publish.IsCompleted && _broker is not null)
        {
            return ConfirmBrokerPublish(connection, publish, channel, request.Id);
        }

        if (!request.Id.IsEmpty)
        {
            Utf8JsonWriter json = ReplyEncoder.Begin();
            json.WriteStartObject();
            json.WriteString("type"u8, "published"u8);
            json.WriteString("channel"u8, channel);
            ReplyEncoder.WriteId(json, request.Id);
            json.WriteEndObject();
            connection.WriteControl(ReplyEncoder.Complete());
        }

        return publish;
    }

    private const string BrokerUnavailableMessage = "Not published: the broker (Redis) cannot be reached or is too far behind; try again";

    /// <summary>
    /// Several nodes: the broker answers a publish after a round trip. The reader does not wait for it (the next
    /// publishes are sent at once, pipelined) unless this connection has too many unanswered; the <c>published</c> ack,
    /// or the <c>unavailable</c> error, follows the broker's answer.
    /// </summary>
    private ValueTask<PublishResult> ConfirmBrokerPublish(WebSocketConnection connection, ValueTask<PublishResult> publish, ReadOnlySpan<char> channel, ReadOnlySpan<byte> id)
    {
        int inFlight = Interlocked.Increment(ref connection.BrokerPublishesInFlight);
        // Only this connection's read loop gets here, one message at a time: the chain of confirmations needs no lock.
        Task<PublishResult> confirmed = ConfirmAsync(connection, publish, connection.LastBrokerConfirmation, new string(channel), id.IsEmpty ? null : id.ToArray());
        connection.LastBrokerConfirmation = confirmed;
        return inFlight >= _maxBrokerPublishesPerConnection ? new ValueTask<PublishResult>(confirmed) : default;
    }

    /// <summary>Acks (or refuses) a publish once the broker answered, after the connection's previous one: in publish order.</summary>
    private async Task<PublishResult> ConfirmAsync(WebSocketConnection connection, ValueTask<PublishResult> publish, Task? previous, string channel, byte[]? id)
    {
        PublishResult result = await publish.ConfigureAwait(false);
        if (previous is not null)
        {
            await previous.ConfigureAwait(false);
        }

        Interlocked.Decrement(ref connection.BrokerPublishesInFlight);
        if (result.Outcome == PublishOutcome.Unavailable)
        {
            SendError(connection, ErrorCode.Unavailable, BrokerUnavailableMessage, channel, id);
        }
        else if (id is not null)
        {
            Utf8JsonWriter json = ReplyEncoder.Begin();
            json.WriteStartObject();
            json.WriteString("type"u8, "published"u8);
            json.WriteString("channel"u8, channel);
            ReplyEncoder.WriteId(json, id);
            json.WriteEndObject();
            connection.WriteControl(ReplyEncoder.Complete());
        }

        connection.Flush();
        return result;
    }

    /// <summary>
    /// Several nodes: the channels of a subscribe request this node does not follow yet (null when it follows them all,
    /// the usual case, which costs a lookup per channel).
    /// </summary>
    private List<(string Name, NamespaceOptions Settings)>? ChannelsToFollow(in ClientRequest request)
    {
        List<(string, NamespaceOptions)>? toFollow = null;
        foreach (string name in RequestedChannels(request))
        {
            if (_subscriptions.CheckName(name, out NamespaceOptions? settings).IsOk
                && !(_state.Channels.TryGet(name, out Channel? channel) && ChannelFollower.IsReady(channel)))
            {
                (toFollow ??= []).Add((name, settings!));
            }
        }

        return toFollow;
    }

    /// <summary>The channel names a subscribe request names (its <c>channels</c>, or the three of its <c>slabAddress</c>).</summary>
    private static List<string> RequestedChannels(in ClientRequest request)
    {
        var names = new List<string>();
        Span<char> name = stackalloc char[MaxEscapedNameBytes];
        if (!request.SlabAddress.IsEmpty && request.Channels.IsEmpty)
        {
            if (TryDecodeName(request.SlabAddress, name, out int length))
            {
                string address = new(name[..length]);
                names.Add("price:" + address);
                names.Add("trades:" + address);
                names.Add("funding:" + address);
            }

            return names;
        }

        if (request.Channels.IsEmpty)
        {
            return names;
        }

        var reader = new Utf8JsonReader(request.Channels);
        reader.Read();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= MaxEscapedNameBytes)
            {
                names.Add(new string(name[..reader.CopyString(name)]));
            }
            else
            {
                reader.Skip();
            }
        }

        return names;
    }

    private async Task<PublishResult> SubscribeWhenFollowedAsync(WebSocketConnection connection, byte[] json, List<(string Name, NamespaceOptions Settings)> toFollow)
    {
        var follows = new Task<bool>[toFollow.Count];
        for (int i = 0; i < follows.Length; i++)
        {
            follows[i] = _broker!.FollowAsync(toFollow[i].Name, toFollow[i].Settings).AsTask();
        }

        await Task.WhenAll(follows).ConfigureAwait(false);
        // Followed (or not: those get "unavailable" from the subscription manager); the request is applied as usual.
        ApplySubscribe(connection, json);
        connection.Flush();
        return new PublishResult(PublishOutcome.Queued, 0);
    }

    private void ApplySubscribe(WebSocketConnection connection, byte[] json)
    {
        if (ClientRequestParser.TryParse(json, out ClientRequest request, out _))
        {
            using (connection.HoldOutput())
            {
                HandleSubscription(connection, request, subscribe: true);
            }
        }
    }

    private async Task<PublishResult> SubscribeWaitingWhenFollowedAsync(WebSocketConnection connection, ValueTask follow, List<string> waiting,
        Dictionary<string, StreamPosition>? since)
    {
        await follow.ConfigureAwait(false);
        SubscribeFromQuery(connection, waiting, since);
        connection.Flush();
        return new PublishResult(PublishOutcome.Queued, 0);
    }

    /// <summary>
    /// Several nodes: makes this node follow the given channels before they are subscribed outside a request (the
    /// connect URL's <c>?subscribe=</c>). Completes at once when it follows them all.
    /// </summary>
    public ValueTask FollowAsync(IEnumerable<string> names)
    {
        if (_broker is null)
        {
            return ValueTask.CompletedTask;
        }

        List<Task<bool>>? follows = null;
        foreach (string name in names)
        {
            if (_subscriptions.CheckName(name, out NamespaceOptions? settings).IsOk
                && !(_state.Channels.TryGet(name, out Channel? channel) && ChannelFollower.IsReady(channel)))
            {
                (follows ??= []).Add(_broker.FollowAsync(name, settings!).AsTask());
            }
        }

        return follows is null ? ValueTask.CompletedTask : new ValueTask(Task.WhenAll(follows));
    }

    /// <summary>
    /// <c>{"type":"auth","token":"..."}</c>: a first token for a connection that came without one, or a refresh.
    /// A token that does not check out, or one naming a different user than the connection's, closes the connection
    /// with 4001 (never an anonymous connection from a bad token). A first token applies the subscriptions that were
    /// waiting for it; a refresh drops those the new token no longer allows. Returns false when the connection ends.
    /// </summary>
    private bool HandleAuth(WebSocketConnection connection, ClientRequest request, ref ValueTask<PublishResult> pendingFollow)
    {
        string? token = request.Token.IsEmpty ? null : DecodeString(request.Token);
        TokenCheck check = token is null ? new TokenCheck(null, AuthFailure.Malformed) : _state.Auth.Validate(token);
        ConnectionAuth? auth = connection.Auth;
        if (check.IsValid && auth?.User is { } current && !current.IsSameUser(check.User!))
        {
            check = new TokenCheck(null, AuthFailure.UserChanged);
        }

        if (!check.IsValid)
        {
            _metrics.AuthFailed(check.Failure);
            _state.Log.AuthFailed(connection.ConnectionId, connection.ClientIp, AuthFailures.Reason(check.Failure));
            connection.TrySendClose(AuthCloseCode.InvalidToken, AuthFailures.Reason(check.Failure));
            return false;
        }

        UserIdentity user = check.User!;
        bool refresh;
        List<string>? waiting = null;
        Dictionary<string, StreamPosition>? waitingSince = null;
        if (auth is null)
        {
            connection.Auth = ConnectionAuth.Authenticated(user);
            refresh = false;
        }
        else
        {
            lock (auth)
            {
                refresh = auth.User is not null;
                waitingSince = auth.TakePendingSince();
                waiting = auth.Authenticate(user);
            }
        }

        if (refresh)
        {
            _metrics.TokenRefreshed();
        }
        else
        {
            _metrics.Authenticated();
        }

        connection.CanPublish = _state.Namespaces.AnyPublishAllowed(connection.Caller);
        SendAuthenticated(connection, user, request.Id);
        if (refresh && _subscriptions.DropRevoked(connection) is { } dropped)
        {
            SendUnsubscribed(connection, dropped, "The refreshed token no longer allows these channels");
        }

        if (waiting is null)
        {
            return true;
        }

        ValueTask follow = FollowAsync(waiting);
        if (!follow.IsCompletedSuccessfully)
        {
            // Several nodes: the waiting channels are applied once this node follows them (the reads wait).
            pendingFollow = new ValueTask<PublishResult>(SubscribeWaitingWhenFollowedAsync(connection, follow, waiting, waitingSince));
            return true;
        }

        // A refusal that closes the connection (KeyGroupLimitAction=Close) ends it here too.
        return SubscribeFromQuery(connection, waiting, waitingSince);
    }

    private static void SendAuthenticated(WebSocketConnection connection, UserIdentity user, ReadOnlySpan<byte> id)
    {
        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "authenticated"u8);
        json.WriteString("user"u8, user.Id);
        if (user.ExpiresUtc is { } expires)
        {
            json.WriteNumber("expiresIn"u8, Math.Max(0, (long)(expires - DateTime.UtcNow).TotalSeconds));
        }

        ReplyEncoder.WriteId(json, id);
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());
    }

    /// <summary><c>{"type":"unsubscribed","channels":[...],"reason":"..."}</c>: channels the server took away.</summary>
    internal static void SendUnsubscribed(WebSocketConnection connection, List<string> channels, string reason)
    {
        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "unsubscribed"u8);
        json.WriteStartArray("channels"u8);
        foreach (string channel in channels)
        {
            json.WriteStringValue(channel);
        }

        json.WriteEndArray();
        json.WriteString("reason"u8, reason);
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());
    }

    private static string? DecodeString(ReadOnlySpan<byte> rawJsonString)
    {
        var reader = new Utf8JsonReader(rawJsonString);
        return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
    }

    private static void SendPong(WebSocketConnection connection, ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty)
        {
            connection.WriteControl(ReplyEncoder.Pong());
            return;
        }

        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "pong"u8);
        ReplyEncoder.WriteId(json, id);
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());
    }

    private static void SendChannels(WebSocketConnection connection, ReadOnlySpan<byte> type, List<string> channels, ReadOnlySpan<byte> id)
    {
        Utf8JsonWriter json = ReplyEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, type);
        WriteNames(json, "channels"u8, channels);
        ReplyEncoder.WriteId(json, id);
        json.WriteEndObject();
        connection.WriteControl(ReplyEncoder.Complete());
    }

    private static void WriteNames(Utf8JsonWriter json, ReadOnlySpan<byte> property, List<string> names)
    {
        json.WriteStartArray(property);
        foreach (string name in names)
        {
            json.WriteStringValue(name);
        }

        json.WriteEndArray();
    }

    private void SendError(WebSocketConnection connection, string code, string message, ReadOnlySpan<char> channel, ReadOnlySpan<byte> id)
    {
        _metrics.ErrorSent();
        connection.WriteControl(ReplyEncoder.Error(code, message, channel, id));
    }

    /// <summary>Decodes a raw JSON string (quotes included) into chars; false when it is not a string or too long.</summary>
    private static bool TryDecodeName(ReadOnlySpan<byte> rawJsonString, Span<char> destination, out int length)
    {
        length = 0;
        var reader = new Utf8JsonReader(rawJsonString);
        if (!reader.Read() || reader.TokenType != JsonTokenType.String || reader.ValueSpan.Length > destination.Length)
        {
            return false;
        }

        length = reader.CopyString(destination);
        return true;
    }

    /// <summary>The <c>bad_request</c> message for a publish that is not a JSON object to an inline namespace.</summary>
    internal static string NotAnObjectMessage(ReadOnlySpan<char> channel) =>
        $"'{ChannelName.Namespace(channel)}' channels deliver the published object itself (Format Inline): \"data\" must be a JSON object";

    /// <summary>Error replies echo at most a channel-name's worth of whatever the client sent.</summary>
    private static ReadOnlySpan<char> Truncate(ReadOnlySpan<char> name) =>
        name.Length > ChannelName.MaxLength ? name[..ChannelName.MaxLength] : name;
}
