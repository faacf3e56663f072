namespace FastWs.Client;

internal enum RequestKind
{
    Subscribe,
    Unsubscribe,
    Auth,
}

/// <summary>
/// A request sent with an <c>id</c> whose answer is awaited. Subscribes are settled per channel (their acks complete the
/// subscriptions); unsubscribes and auths complete <see cref="Completion"/>.
/// </summary>
internal sealed class PendingRequest(RequestKind kind, string[] channels, TaskCompletionSource? completion)
{
    public RequestKind Kind { get; } = kind;

    public string[] Channels { get; } = channels;

    public TaskCompletionSource? Completion { get; } = completion;

    public long SentAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
}
