using FastWs.Server.FanOut;

namespace FastWs.Server.Channels;

/// <summary>
/// The one seam between market-data semantics and where they run: who gives a channel's messages their <c>seq</c>,
/// and where the channel's history lives.
/// </summary>
/// <remarks>
/// <para>
/// Everything else (encoding, fan-out, snapshots, replay with <c>since</c>, gap notices) works from what this
/// returns and from <see cref="Channel.History"/>, and does not care who numbered the message.
/// </para>
/// <para>
/// Single node (<see cref="LocalChannelLog"/>): the thread delivering the channel's fan-out shard numbers each message
/// as it takes it and appends it to the channel's in-memory history, a direct call with no hop and no allocation.
/// Several nodes (a broker such as Redis): the broker assigns <c>seq</c> and <c>epoch</c> atomically with the publish
/// and hands every node the numbered message; the node's implementation then records the number it was given
/// (and resets its mirror of the history when the epoch changes) instead of counting.
/// </para>
/// </remarks>
internal interface IChannelLog
{
    /// <summary>
    /// Numbers <paramref name="message"/> of <paramref name="channel"/> and keeps it in the channel's history when its
    /// namespace keeps one (taking over the pooled data buffer: <paramref name="kept"/> is then true and the caller
    /// must not return it). Called by the thread delivering the channel's shard, in order, before the fan-out.
    /// </summary>
    long Record(Channel channel, in PendingMessage message, long nowMs, out bool kept);

    /// <summary>
    /// A broker's marker (<see cref="PendingMessage.Data"/> null): the channel's stream restarted in a new epoch (the
    /// broker lost its state). Called by the delivering thread in order with the messages. A single node never sees one.
    /// </summary>
    void Restart(Channel channel, in PendingMessage marker);
}
