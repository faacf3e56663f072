using System.Buffers;
using CommunityToolkit.HighPerformance.Buffers;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;

namespace FastWs.Server.Channels;

/// <summary>
/// The recovery path, in one place: how a subscriber joins a channel's stream so that what it gets (snapshot or
/// replay, then live) has no gap and no duplicate at the seam, however publishes race the subscribe.
/// </summary>
/// <remarks>
/// <para>
/// The subscriber's output is held (its write lock) for the whole subscribe request, and it is added to the channel's
/// subscribers before it reads the channel's position. Then, for each message the delivering thread is fanning out:
/// </para>
/// <list type="bullet">
/// <item>either the subscriber read its position after the message was numbered: the message is in what it was
/// sent (replay or snapshot), and the delivery, if it saw the new subscriber at all, waits for the write lock and then
/// finds the message at or under the subscriber's floor, so it is not sent twice;</item>
/// <item>or it read the position before: the delivery then certainly sees the new subscriber (the fences on both
/// sides, see FanOutShard), waits for the write lock, and sends the message after the ack and the replay.</item>
/// </list>
/// <para>
/// The floor is set only when a delivery could still be in flight (the channel's <see cref="Channel.DeliveredThrough"/>
/// is behind the position), and it goes with the first run past it, so a settled connection pays nothing.
/// </para>
/// </remarks>
internal static class StreamJoin
{
    /// <summary>
    /// Joins <paramref name="connection"/>, just added to <paramref name="channel"/>'s subscribers with its output
    /// held, to the channel's stream: its position, and the replay or snapshot it is owed, go into <paramref name="reply"/>.
    /// </summary>
    public static void Join(WebSocketConnection connection, Channel channel, SubscribeReply reply)
    {
        StreamPosition? since = reply.SinceFor(channel.Name);
        // Pairs with the fence the delivering thread makes between numbering a run and walking the subscribers.
        Interlocked.MemoryBarrier();
        long position;
        bool recovered = false;
        if (channel.History is not { } history)
        {
            position = Volatile.Read(ref channel.LastSequence);
            recovered = since is { } s && s.Epoch == channel.Epoch && s.Seq == position;
        }
        else
        {
            lock (history.SyncRoot)
            {
                history.Trim(Environment.TickCount64);
                position = channel.LastSequence;
                if (since is { } s && s.Epoch == channel.Epoch && s.Seq >= 0 && s.Seq <= position
                    && (s.Seq == position || (history.Count > 0 && history[0].Seq <= s.Seq + 1)))
                {
                    recovered = true;
                    for (int i = 0; i < history.Count; i++)
                    {
                        ref readonly ChannelHistory.Entry entry = ref history[i];
                        if (entry.Seq > s.Seq)
                        {
                            MessageEncoding.Write(reply.Frames, channel, entry.Seq, entry.Span);
                        }
                    }

                    reply.Replayed += position - s.Seq;
                }

                if (!recovered && channel.Settings.Snapshot && history.TryGetLatest(out ChannelHistory.Entry latest))
                {
                    MessageEncoding.Write(reply.Frames, channel, latest.Seq, latest.Span, snapshot: true);
                    reply.Snapshots++;
                }
            }
        }

        if (Volatile.Read(ref channel.DeliveredThrough) < position)
        {
            connection.SetDeliveryFloor(channel, position);
        }

        reply.Positions.Add(new(channel.Name, new StreamPosition(channel.Epoch, position)));
        if (since is not null)
        {
            (recovered ? reply.Recovered : reply.NotRecovered).Add(channel.Name);
        }
    }
}

/// <summary>
/// The answer to one subscribe request while it is built: the channels subscribed, each one's position, what
/// <c>since</c> recovered, and the snapshot and replay frames that follow the <c>subscribed</c> ack.
/// </summary>
internal sealed class SubscribeReply : IDisposable
{
    private ArrayPoolBufferWriter<byte>? _frames;

    /// <summary>The client's positions to recover from, by channel name (from <c>since</c>); null when it sent none.</summary>
    public Dictionary<string, StreamPosition>? Since { get; set; }

    public List<string> Channels { get; } = [];

    public List<KeyValuePair<string, StreamPosition>> Positions { get; } = [];

    public List<string> Recovered { get; } = [];

    public List<string> NotRecovered { get; } = [];

    /// <summary>Messages replayed from history, for the metrics.</summary>
    public long Replayed { get; set; }

    /// <summary>Snapshots sent, for the metrics.</summary>
    public int Snapshots { get; set; }

    /// <summary>Snapshot and replay frames, written to the client right after the ack.</summary>
    public IBufferWriter<byte> Frames => _frames ??= new ArrayPoolBufferWriter<byte>(1024);

    public ReadOnlySpan<byte> WrittenFrames => _frames is null ? default : _frames.WrittenSpan;

    public StreamPosition? SinceFor(string channel) =>
        Since is not null && Since.TryGetValue(channel, out StreamPosition position) ? position : null;

    public void Dispose() => _frames?.Dispose();
}
