using FastWs.Server.FanOut;

namespace FastWs.Server.Channels;

/// <summary>
/// A single node's numbering: the channel's own counter, bumped by the one thread that delivers its shard, and its
/// in-memory history ring. With a history the number is given out under the history's lock, so a subscriber reading
/// the history sees the channel's last <c>seq</c> and its message together (see <see cref="StreamJoin"/>).
/// </summary>
internal sealed class LocalChannelLog : IChannelLog
{
    public static LocalChannelLog Instance { get; } = new();

    public long Record(Channel channel, in PendingMessage message, long nowMs, out bool kept)
    {
        if (channel.History is not { } history)
        {
            kept = false;
            long next = channel.LastSequence + 1;
            Volatile.Write(ref channel.LastSequence, next);
            return next;
        }

        kept = true;
        return history.Append(channel, message.Data, message.Length, nowMs);
    }

    /// <summary>A single node numbers its own messages: no broker, so no marker ever comes.</summary>
    public void Restart(Channel channel, in PendingMessage marker) => throw new InvalidOperationException("A single node's channels never restart their epoch while they exist");
}
