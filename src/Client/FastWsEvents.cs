namespace FastWs.Client;

/// <summary><see cref="FastWsClient.Opened"/>: a connection is up (its <c>connected</c> message came).</summary>
public sealed class FastWsOpenedEventArgs(string connectionId, string? user, bool reconnected) : EventArgs
{
    /// <summary>The server's id of this connection (for <c>POST /api/connections/{id}/...</c>).</summary>
    public string ConnectionId { get; } = connectionId;

    /// <summary>The user of the token on the upgrade, if any.</summary>
    public string? User { get; } = user;

    /// <summary>True for every connection after the first.</summary>
    public bool Reconnected { get; } = reconnected;
}

/// <summary><see cref="FastWsClient.Closed"/>: the connection ended (or an attempt failed).</summary>
public sealed class FastWsClosedEventArgs(int code, string reason, bool willReconnect, TimeSpan delay) : EventArgs
{
    /// <summary>The close code (1006 for a drop without a close frame, a failed attempt, or a liveness timeout).</summary>
    public int Code { get; } = code;

    public string Reason { get; } = reason;

    /// <summary>False when the client stops or waits for <see cref="FastWsClient.SetToken"/>.</summary>
    public bool WillReconnect { get; } = willReconnect;

    /// <summary>Time until the next attempt.</summary>
    public TimeSpan Delay { get; } = delay;
}

/// <summary>
/// <see cref="FastWsClient.Reset"/>: a channel's stream could not be continued after a reconnect or gap
/// (<c>notRecovered</c>: a new epoch after a server restart or expiry, or a history too short). The subscription's
/// stream carries the same news as a <see cref="FastWsMessageKind.Reset"/> item, followed by the snapshot when the
/// namespace keeps one.
/// </summary>
public sealed class FastWsResetEventArgs(string channel, FastWsPosition position, FastWsPosition? previous) : EventArgs
{
    public string Channel { get; } = channel;

    /// <summary>The channel's new position; the next message is its <c>Seq</c> + 1 (a snapshot, when one comes, is <c>Seq</c>).</summary>
    public FastWsPosition Position { get; } = position;

    /// <summary>What the client held before.</summary>
    public FastWsPosition? Previous { get; } = previous;
}

/// <summary><see cref="FastWsClient.Gap"/>: messages From..To of a channel were skipped (slow consumer); the client recovers them with <c>since</c>.</summary>
public sealed class FastWsGapEventArgs(string channel, long from, long? to) : EventArgs
{
    public string Channel { get; } = channel;

    public long From { get; } = from;

    /// <summary>The last message missed; null when the server does not know (the channel's stream restarted in a new epoch: several nodes, Redis lost its state).</summary>
    public long? To { get; } = to;
}

/// <summary><see cref="FastWsClient.Error"/>: a server error without a waiting caller, a refusal after a reconnect, or a client-side failure.</summary>
public sealed class FastWsErrorEventArgs(FastWsException error) : EventArgs
{
    public FastWsException Error { get; } = error;
}

/// <summary><see cref="FastWsClient.TokenExpiring"/> (only without <see cref="FastWsClientOptions.RefreshToken"/>): call <see cref="FastWsClient.SetToken"/> in time.</summary>
public sealed class FastWsTokenExpiringEventArgs(int seconds) : EventArgs
{
    public int Seconds { get; } = seconds;
}

/// <summary><see cref="FastWsClient.MessageReceived"/>: a message sent to this connection by id, or any other frame the client does not handle itself.</summary>
public sealed class FastWsDirectMessageEventArgs(System.Text.Json.JsonElement message) : EventArgs
{
    public System.Text.Json.JsonElement Message { get; } = message;
}
