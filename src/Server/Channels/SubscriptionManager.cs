using System.Globalization;
using FastWs.Server.Auth;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Limits;
using FastWs.Server.Messages;
using FastWs.Server.Metrics;

namespace FastWs.Server.Channels;

/// <summary>Result of one subscribe or unsubscribe of one channel.</summary>
/// <remarks><paramref name="ClosesConnection"/>: the refusal closes the connection with 1008 and <paramref name="Message"/> instead of an error reply (<see cref="KeyGroupLimitAction.Close"/>).</remarks>
internal readonly record struct SubscriptionResult(string? ErrorCode, string Message, bool ClosesConnection = false)
{
    public static SubscriptionResult Ok { get; } = new(null, string.Empty);

    /// <summary>Held until the connection's first token arrives (or its wait ends): neither done nor refused yet.</summary>
    public static SubscriptionResult Pending { get; } = new(PendingCode, string.Empty);

    private const string PendingCode = "pending";

    public bool IsOk => ErrorCode is null;

    public bool IsPending => ReferenceEquals(ErrorCode, PendingCode);
}

/// <summary>
/// Applies subscribe and unsubscribe requests for a connection: name rules, namespace settings and permissions,
/// the subscription limits, then the channel registry. Both operations are idempotent.
/// </summary>
internal sealed class SubscriptionManager
{
    private readonly ChannelRegistry _channels;
    private readonly NamespaceCatalog _namespaces;
    private readonly ServerMetrics _metrics;
    private readonly LimitOptions _limits;
    private readonly KeyGroupCounter _keyGroups;

    public SubscriptionManager(ServerState state)
    {
        _channels = state.Channels;
        _namespaces = state.Namespaces;
        _metrics = state.Metrics;
        _limits = state.Options.Limits;
        _keyGroups = state.KeyGroups;
        _authRequired = state.Options.Auth.Required;
        _followsBroker = state.Publisher.Broker is not null;
    }

    private readonly bool _authRequired;

    /// <summary>Several nodes: a channel can be joined only once this node follows it in the broker.</summary>
    private readonly bool _followsBroker;

    /// <summary>The refusal when the broker could not be reached to follow the channel.</summary>
    internal static SubscriptionResult NotFollowed { get; } =
        new(ErrorCode.Unavailable, "The channel's state is not available: the broker (Redis) cannot be reached; try again");

    /// <summary>
    /// Subscribes one channel and, when that is new, joins its stream (<see cref="StreamJoin"/>): the channel's name
    /// and position go into <paramref name="reply"/>, with the snapshot or replay the client is owed. The caller holds
    /// the connection's output (<see cref="WebSocketConnection.HoldOutput"/>) until the reply has been written.
    /// </summary>
    public SubscriptionResult Subscribe(WebSocketConnection connection, ReadOnlySpan<char> name, SubscribeReply reply)
    {
        SubscriptionResult check = CheckName(name, out NamespaceOptions? settings);
        if (!check.IsOk)
        {
            return check;
        }

        AccessPolicy rule = settings!.Subscribe;
        if (!rule.Allows(connection.Caller, ChannelName.Key(name)) || MustWaitForToken(connection, rule))
        {
            if (connection.Auth is { } auth && (_authRequired || rule.NeedsUser))
            {
                // The connection came without a token and may still send one ({"type":"auth"}): the channel waits for it.
                lock (auth)
                {
                    if (auth.IsAwaiting)
                    {
                        string pending = new(name);
                        auth.AddPending(pending, reply.SinceFor(pending));
                        return SubscriptionResult.Pending;
                    }
                }
            }

            return Forbidden(rule, "Subscribing", name);
        }

        SubscriptionSet subscriptions = connection.Subscriptions;
        if (_channels.TryGet(name, out Channel? existing) && subscriptions.Contains(existing))
        {
            // Already live: nothing to join, no position to give (the client's stream simply goes on).
            reply.Channels.Add(existing.Name);
            return SubscriptionResult.Ok;
        }

        SubscriptionResult limit = CheckLimits(subscriptions, name, settings, out string? joinGroup);
        if (!limit.IsOk)
        {
            _metrics.LimitRejected();
            return limit;
        }

        string key = existing?.Name ?? new string(name);
        int slot = _channels.Subscribe(key, settings, connection, out Channel channel);
        if (_followsBroker && !Broker.ChannelFollower.IsReady(channel))
        {
            // Several nodes: the node does not follow this channel yet (the request handler waits for that first, so
            // this is a follow that failed or a channel that left meanwhile). Without the broker's position there is
            // nothing exact to join.
            _channels.Unsubscribe(channel, slot);
            if (joinGroup is not null)
            {
                _keyGroups.Leave(joinGroup);
            }

            return NotFollowed;
        }

        subscriptions.Add(channel, slot);
        _metrics.SubscriptionChanged();
        reply.Channels.Add(channel.Name);
        StreamJoin.Join(connection, channel, reply);
        return SubscriptionResult.Ok;
    }

    /// <summary>
    /// Subscribes one channel outside a client request (benchmarks, tests, embedding hosts): joins its stream like a
    /// request without <c>since</c>, but sends no ack, snapshot or replay.
    /// </summary>
    public SubscriptionResult Subscribe(WebSocketConnection connection, ReadOnlySpan<char> name, out string? channelName)
    {
        using var reply = new SubscribeReply();
        using WebSocketConnection.OutputHold hold = connection.HoldOutput();
        SubscriptionResult result = Subscribe(connection, name, reply);
        channelName = result.IsOk ? reply.Channels[^1] : null;
        return result;
    }

    /// <summary>With <c>Auth:Required</c>, nothing is subscribed before the connection's token has come.</summary>
    private bool MustWaitForToken(WebSocketConnection connection, AccessPolicy rule) =>
        _authRequired && connection.User is null && rule.Kind != AccessKind.Nobody;

    /// <summary>The <c>forbidden</c> error: which namespace's which rule refused.</summary>
    public static SubscriptionResult Forbidden(AccessPolicy rule, string action, ReadOnlySpan<char> channel) =>
        new(ErrorCode.Forbidden, rule.Explain(action, ChannelName.Namespace(channel)));

    /// <summary>
    /// After a token refresh: drops the subscriptions the new token no longer allows (a role taken away) and returns
    /// their names, for the <c>unsubscribed</c> notice.
    /// </summary>
    public List<string>? DropRevoked(WebSocketConnection connection)
    {
        if (!connection.HasSubscriptions)
        {
            return null;
        }

        List<string>? dropped = null;
        Caller caller = connection.Caller;
        foreach (KeyValuePair<Channel, int> subscription in connection.Subscriptions.ToArray())
        {
            Channel channel = subscription.Key;
            if (!channel.Settings.Subscribe.Allows(caller, ChannelName.Key(channel.Name))
                && connection.Subscriptions.Remove(channel, out int slot, out bool leftKeyGroup))
            {
                Release(channel, slot, leftKeyGroup, connection);
                (dropped ??= []).Add(channel.Name);
            }
        }

        return dropped;
    }

    public SubscriptionResult Unsubscribe(WebSocketConnection connection, ReadOnlySpan<char> name)
    {
        SubscriptionResult check = CheckName(name, out _);
        if (!check.IsOk)
        {
            return check;
        }

        if (connection.Auth is { IsAwaiting: true } auth)
        {
            lock (auth)
            {
                auth.RemovePending(name);
            }
        }

        if (connection.HasSubscriptions && _channels.TryGet(name, out Channel? channel)
            && connection.Subscriptions.Remove(channel, out int slot, out bool leftKeyGroup))
        {
            Release(channel, slot, leftKeyGroup, connection);
        }

        return SubscriptionResult.Ok;
    }

    /// <summary>Removes every subscription of a connection that is going away.</summary>
    public void UnsubscribeAll(WebSocketConnection connection)
    {
        SubscriptionSet? subscriptions = connection.DetachSubscriptions();
        if (subscriptions is null)
        {
            return;
        }

        foreach (KeyValuePair<Channel, int> subscription in subscriptions.ToArray())
        {
            subscriptions.Remove(subscription.Key, out int slot, out bool leftKeyGroup);
            Release(subscription.Key, slot, leftKeyGroup);
        }
    }

    /// <summary>Checks the name's syntax and that its namespace is configured.</summary>
    public SubscriptionResult CheckName(ReadOnlySpan<char> name, out NamespaceOptions? settings)
    {
        settings = null;
        if (!ChannelName.IsValid(name, out int namespaceLength))
        {
            return new SubscriptionResult(ErrorCode.InvalidChannel, "Channel names are namespace or namespace:key, at most 128 characters of A-Z a-z 0-9 _ . : -");
        }

        if (!_namespaces.TryGet(name[..namespaceLength], out NamespaceOptions found))
        {
            return new SubscriptionResult(ErrorCode.InvalidChannel, "Unknown channel namespace");
        }

        if (found.KeyRegex is { } pattern && !pattern.IsMatch(ChannelName.Key(name)))
        {
            return new SubscriptionResult(ErrorCode.InvalidChannel, $"Keys of '{ChannelName.Namespace(name)}' channels must match {found.KeyPattern}");
        }

        settings = found;
        return SubscriptionResult.Ok;
    }

    /// <summary>
    /// Per-connection total, per-connection quota, then the per-key-group subscriber limit. The key group is
    /// joined last, only when everything else allows the subscription, so a refusal leaves no count behind.
    /// </summary>
    private SubscriptionResult CheckLimits(SubscriptionSet subscriptions, ReadOnlySpan<char> name, NamespaceOptions settings, out string? joinedGroup)
    {
        joinedGroup = null;
        if (_limits.MaxSubscriptionsPerConnection > 0 && subscriptions.Count >= _limits.MaxSubscriptionsPerConnection)
        {
            return new SubscriptionResult(ErrorCode.LimitExceeded, string.Create(CultureInfo.InvariantCulture, $"At most {_limits.MaxSubscriptionsPerConnection} subscriptions per connection"));
        }

        if (settings.Quota is { } quota && _limits.SubscriptionQuotas.TryGetValue(quota, out int quotaLimit)
            && quotaLimit > 0 && subscriptions.CountInQuota(quota) >= quotaLimit)
        {
            return new SubscriptionResult(ErrorCode.LimitExceeded, string.Create(CultureInfo.InvariantCulture, $"At most {quotaLimit} subscriptions per connection in quota '{quota}'"));
        }

        ReadOnlySpan<char> group = ChannelName.KeyGroup(name);
        if (group.Length != name.Length)
        {
            string groupName = new(group);
            if (!subscriptions.IsInKeyGroup(groupName))
            {
                if (!_keyGroups.TryJoin(groupName))
                {
                    return new SubscriptionResult(ErrorCode.LimitExceeded, string.Create(CultureInfo.InvariantCulture, $"At most {_limits.MaxSubscribersPerKeyGroup} subscribers for '{groupName}'"),
                        ClosesConnection: _limits.KeyGroupLimitAction == KeyGroupLimitAction.Close);
                }

                joinedGroup = groupName;
            }
        }

        return SubscriptionResult.Ok;
    }

    private void Release(Channel channel, int slot, bool leftKeyGroup, WebSocketConnection? connection = null)
    {
        _channels.Unsubscribe(channel, slot);
        connection?.ForgetStream(channel);
        if (leftKeyGroup && channel.KeyGroup is { } group)
        {
            _keyGroups.Leave(group);
        }

        _metrics.SubscriptionChanged();
    }
}
