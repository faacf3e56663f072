using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;

namespace FastWs.Server.Broker;

/// <summary>
/// A node's numbering with a broker: it records the number the broker gave each message instead of counting, keeps
/// the node's copy of the channel's history, and turns what the node could not get from the broker (a hole, a new
/// epoch) into <c>gap</c> notices for the channel's subscribers, so their clients recover with <c>since</c>.
/// </summary>
/// <remarks>
/// Called by the thread delivering the channel's shard, in order. The <see cref="ChannelFollower"/> hands over only
/// messages past the channel's last <c>seq</c> and refills holes from the broker's history first, so a hole here means
/// the broker no longer had those messages.
/// </remarks>
internal sealed class BrokerChannelLog(BrokerMetrics metrics) : IChannelLog
{
    public long Record(Channel channel, in PendingMessage message, long nowMs, out bool kept)
    {
        long seq = message.Sequence;
        long last = channel.LastSequence;
        bool hole = seq != last + 1;
        if (hole)
        {
            metrics.HoleAnnounced();
            BreakSubscribers(channel, last + 1, seq - 1);
        }

        if (channel.History is { } history)
        {
            kept = true;
            history.AppendNumbered(channel, seq, message.Data, message.Length, nowMs, restart: hole);
        }
        else
        {
            kept = false;
            Volatile.Write(ref channel.LastSequence, seq);
        }

        return seq;
    }

    public void Restart(Channel channel, in PendingMessage marker)
    {
        long from = channel.LastSequence + 1;
        if (channel.History is { } history)
        {
            // Under the history's lock, as joiners read: they see the old epoch with its messages or the new one empty.
            lock (history.SyncRoot)
            {
                history.Clear();
                channel.SetEpoch(marker.Epoch!);
                Volatile.Write(ref channel.LastSequence, marker.Sequence);
            }
        }
        else
        {
            channel.SetEpoch(marker.Epoch!);
            Volatile.Write(ref channel.LastSequence, marker.Sequence);
        }

        Volatile.Write(ref channel.DeliveredThrough, marker.Sequence);
        Interlocked.MemoryBarrier();
        BreakSubscribers(channel, from, StreamMarks.UnknownEnd);
    }

    private static void BreakSubscribers(Channel channel, long from, long to)
    {
        foreach (WebSocketConnection?[] block in channel.Subscribers.Blocks)
        {
            for (int i = 0; i < block.Length; i++)
            {
                Volatile.Read(ref block[i])?.BreakStream(channel, from, to);
            }
        }
    }
}
