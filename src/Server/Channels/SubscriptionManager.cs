using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using FastWs.Server.Messages;
using FastWs.Server.Metrics;

namespace FastWs.Server.Channels;

/// <summary>Result of one subscribe or unsubscribe of one channel.</summary>
internal readonly record struct SubscriptionResult(string? ErrorCode, string Message)
{
    public static SubscriptionResult Ok { get; } = new(null, string.Empty);

    public bool IsOk => ErrorCode is null;
}

/// <summary>
/// Applies subscribe and unsubscribe requests for a connection: name rules, namespace settings and permissions,
/// then the channel registry. Both operations are idempotent.
/// </summary>
internal sealed class SubscriptionManager
{
    private readonly ChannelRegistry _channels;
    private readonly NamespaceCatalog _namespaces;
    private readonly ServerMetrics _metrics;

    public SubscriptionManager(ChannelRegistry channels, NamespaceCatalog namespaces, ServerMetrics metrics)
    {
        _channels = channels;
        _namespaces = namespaces;
        _metrics = metrics;
    }

    public SubscriptionResult Subscribe(WebSocketConnection connection, ReadOnlySpan<char> name, out string? channelName)
    {
        channelName = null;
        SubscriptionResult check = CheckName(name, out NamespaceOptions? settings);
        if (!check.IsOk)
        {
            return check;
        }

        if (!connection.IsAllowed(settings!.Subscribe))
        {
            return new SubscriptionResult(ErrorCode.Forbidden, "Not allowed to subscribe to this channel");
        }

        if (_channels.TryGet(name, out Channel? existing) && connection.IsSubscribed(existing))
        {
            channelName = existing.Name;
            return SubscriptionResult.Ok;
        }

        string key = existing?.Name ?? new string(name);
        int slot = _channels.Subscribe(key, settings, connection, out Channel channel);
        if (!connection.TryAddSubscription(channel, slot))
        {
            _channels.Unsubscribe(channel, slot);
        }

        _metrics.SubscriptionChanged();
        channelName = channel.Name;
        return SubscriptionResult.Ok;
    }

    public SubscriptionResult Unsubscribe(WebSocketConnection connection, ReadOnlySpan<char> name)
    {
        SubscriptionResult check = CheckName(name, out _);
        if (!check.IsOk)
        {
            return check;
        }

        if (_channels.TryGet(name, out Channel? channel) && connection.TryRemoveSubscription(channel, out int slot))
        {
            _channels.Unsubscribe(channel, slot);
            _metrics.SubscriptionChanged();
        }

        return SubscriptionResult.Ok;
    }

    /// <summary>Removes every subscription of a connection that is going away.</summary>
    public void UnsubscribeAll(WebSocketConnection connection)
    {
        Dictionary<Channel, int>? subscriptions = connection.DetachSubscriptions();
        if (subscriptions is null)
        {
            return;
        }

        foreach (KeyValuePair<Channel, int> subscription in subscriptions)
        {
            _channels.Unsubscribe(subscription.Key, subscription.Value);
            _metrics.SubscriptionChanged();
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

        settings = found;
        return SubscriptionResult.Ok;
    }
}
