namespace FastWs.Server.Channels;

/// <summary>
/// Where a client is in a channel's stream: the channel's <paramref name="Epoch"/> (which run of its sequence; a new
/// one after a restart or after the channel's state expired) and the <paramref name="Seq"/> of the last message it has.
/// <c>subscribed</c> tells it for each channel; a later subscribe hands it back as <c>since</c> to recover what it missed.
/// </summary>
public readonly record struct StreamPosition(string Epoch, long Seq);
