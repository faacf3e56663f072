namespace FastWs.Server.FanOut;

/// <summary>What happened to a publish request.</summary>
public enum PublishOutcome
{
    /// <summary>Queued for delivery to the channel's current subscribers.</summary>
    Queued,

    /// <summary>Valid, but the channel has no subscribers, so there is nothing to do.</summary>
    NoSubscribers,

    /// <summary>The channel name breaks the naming rules.</summary>
    InvalidChannel,

    /// <summary>The channel's namespace is not configured.</summary>
    UnknownNamespace,

    /// <summary>The data is not a single valid JSON value.</summary>
    InvalidData,

    /// <summary>The channel's namespace delivers inline (the published object itself), and the data is not a JSON object.</summary>
    NotAnObject,

    /// <summary>The server is shutting down and accepts no more messages.</summary>
    ShuttingDown,

    /// <summary>
    /// The broker (several nodes: Redis) is unreachable, did not confirm the publish, or this node has too many publishes
    /// in flight to it: the message was not published (or, if the broker took it before failing, its subscribers get it).
    /// </summary>
    Unavailable,
}

/// <summary>The outcome of a publish and how many subscribers the message was queued for.</summary>
public readonly record struct PublishResult(PublishOutcome Outcome, int Subscribers)
{
    public bool IsAccepted => Outcome is PublishOutcome.Queued or PublishOutcome.NoSubscribers;
}
