namespace FastWs.Server.Hosting;

/// <summary>What a subscribe over the per-key-group subscriber limit (<see cref="LimitOptions.MaxSubscribersPerKeyGroup"/>) gets.</summary>
public enum KeyGroupLimitAction
{
    /// <summary>A <c>limit_exceeded</c> error for the refused channel; the connection and its other subscriptions stay.</summary>
    Error,

    /// <summary>The seed server's behaviour: the connection is closed with 1008, the error's message as the reason.</summary>
    Close,
}
