namespace FastWs.Client;

/// <summary>
/// A channel position: message <see cref="Seq"/> of the channel's <see cref="Epoch"/> (docs/protocol.md, "Positions").
/// <c>Seq</c> 0 means nothing numbered yet. A new epoch (server restart, channel state expired) starts again at 1.
/// </summary>
public readonly record struct FastWsPosition(string Epoch, long Seq);
