using FastWs.Server.Connections;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// A socket whose kernel buffer is full: every send takes nothing, and the backlog waits until the test lets it
/// go with <see cref="Drain"/> (or for good, if it never does).
/// </summary>
internal sealed class FullSocket : ISocketSender
{
    public TaskCompletionSource<bool> Drain { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int TrySend(ReadOnlySpan<byte> bytes) => 0;

    public ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes) => new(Drain.Task);
}
