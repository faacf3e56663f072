namespace FastWs.Client;

/// <summary>Where a <see cref="FastWsClient"/> is: <see cref="FastWsClient.State"/>, and <see cref="FastWsClient.StateChanged"/>.</summary>
public enum FastWsClientState
{
    /// <summary>Made, <see cref="FastWsClient.ConnectAsync"/> not called yet.</summary>
    Created,

    /// <summary>An attempt under way (upgrade sent, <c>connected</c> not yet received).</summary>
    Connecting,

    /// <summary>Connected: the server's <c>connected</c> message has come.</summary>
    Open,

    /// <summary>Dropped; waiting for the backoff delay before the next attempt.</summary>
    Reconnecting,

    /// <summary>Closed with 4001/4002 and no usable new token: nothing happens until <see cref="FastWsClient.SetToken"/>.</summary>
    WaitingForToken,

    /// <summary>Stopped for good: disposed, or closed by a policy that reconnecting would only repeat.</summary>
    Closed,
}
