using FastWs.Server.Channels;

namespace FastWs.Server.Broker;

/// <summary>
/// A node's following of one channel in the broker: its subscription, whether the channel's position and history
/// were read yet (<see cref="Ready"/>), and what the node has received so far (<see cref="Epoch"/>,
/// <see cref="LastSeq"/>, touched only under <see cref="Gate"/>). Lives as long as the local <see cref="Channel"/>.
/// </summary>
internal sealed class ChannelInterest(Channel channel)
{
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Channel Channel { get; } = channel;

    /// <summary>One at a time: the first read, each received message, and a catch-up after a reconnect.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The epoch of what was handed to the fan-out last (under <see cref="Gate"/>).</summary>
    public string Epoch { get; set; } = string.Empty;

    /// <summary>The <c>seq</c> handed to the fan-out last (under <see cref="Gate"/>).</summary>
    public long LastSeq { get; set; }

    /// <summary>The broker subscription, once made.</summary>
    public IAsyncDisposable? Subscription { get; set; }

    /// <summary>True (and stays so) once the first read is applied: subscribers may join.</summary>
    public bool IsReady => _ready.Task.IsCompletedSuccessfully && _ready.Task.Result;

    /// <summary>Completes with true when ready, false when following failed (the broker unreachable).</summary>
    public Task<bool> Ready => _ready.Task;

    /// <summary>Set when the channel left the registry: whatever still arrives is dropped.</summary>
    public volatile bool Dropped;

    public void SetReady(bool ready) => _ready.TrySetResult(ready);
}
