using FastWs.Server.FanOut;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>
/// A channel's recent messages, for recovery (<c>since</c>) and snapshots: a ring of the published data with each
/// message's <c>seq</c>, bounded by count (<c>History:Size</c>), age (<c>History:MaxAge</c>) and bytes
/// (<c>History:MaxBytes</c>). With <c>Snapshot</c> on, the latest message is always kept, whatever its age or size.
/// </summary>
/// <remarks>
/// The delivery thread appends (one per message, under a lock nobody else holds for more than a copy); a subscriber
/// reads under the same lock while it joins. The ring takes over the pooled buffer the message was published in, so
/// keeping a message costs no copy and no allocation: the buffer goes back to the pool when the message leaves the
/// ring. The ring array itself grows by doubling, so a quiet channel with a large <c>Size</c> costs little.
/// </remarks>
internal sealed class ChannelHistory
{
    /// <summary>One kept message: its number, when it was appended (Environment.TickCount64 ms) and its pooled data.</summary>
    internal readonly record struct Entry(long Seq, long AtMs, byte[] Data, int Length)
    {
        public ReadOnlySpan<byte> Span => Data.AsSpan(0, Length);
    }

    private readonly int _size;
    private readonly long _maxAgeMs;
    private readonly long _maxBytes;
    private readonly bool _keepLatest;

    private Entry[] _ring = [];
    private int _head;
    private int _count;
    private long _bytes;
    private bool _released;

    public ChannelHistory(NamespaceOptions settings)
    {
        _size = Math.Max(settings.History.Size, settings.Snapshot ? 1 : 0);
        _maxAgeMs = settings.History.MaxAge > TimeSpan.Zero ? (long)settings.History.MaxAge.TotalMilliseconds : long.MaxValue;
        _maxBytes = settings.History.MaxBytes > 0 ? settings.History.MaxBytes : long.MaxValue;
        _keepLatest = settings.Snapshot;
    }

    /// <summary>Held for every read and write; readers hold it while they copy what they need.</summary>
    public Lock SyncRoot { get; } = new();

    /// <summary>Messages kept (under the lock).</summary>
    public int Count => _count;

    /// <summary>Bytes of data kept (read without the lock for stats: a torn read of a long is not possible on 64-bit).</summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Bytes of pooled buffers held, which is what the memory stats count (buffers are rounded up to a power of two).</summary>
    public long BufferBytes { get; private set; }

    /// <summary>The <paramref name="index"/>-th kept message, oldest first (under the lock).</summary>
    public ref readonly Entry this[int index] => ref _ring[(_head + index) % _ring.Length];

    /// <summary>The latest message, if any (under the lock).</summary>
    public bool TryGetLatest(out Entry latest)
    {
        if (_count == 0)
        {
            latest = default;
            return false;
        }

        latest = this[_count - 1];
        return true;
    }

    /// <summary>
    /// Numbers the next message of <paramref name="channel"/> and appends it, taking over its pooled
    /// <paramref name="data"/> buffer, then drops what the limits no longer allow. Returns its <c>seq</c>. Only the
    /// thread delivering the channel's shard calls it; the number is given out under the lock, so whoever holds the
    /// lock sees <see cref="Channel.LastSequence"/> and the kept messages agree.
    /// </summary>
    public long Append(Channel channel, byte[] data, int length, long nowMs)
    {
        lock (SyncRoot)
        {
            long seq = channel.LastSequence + 1;
            Volatile.Write(ref channel.LastSequence, seq);
            AddLocked(seq, nowMs, data, length);
            return seq;
        }
    }

    /// <summary>
    /// Appends a message a broker numbered (<paramref name="seq"/>), taking over its pooled buffer, and makes it the
    /// channel's last <c>seq</c>. With <paramref name="restart"/> what is kept goes first: the message does not follow
    /// on from it (a hole the broker could not fill), so nothing older may be replayed across it.
    /// </summary>
    public void AppendNumbered(Channel channel, long seq, byte[] data, int length, long nowMs, bool restart)
    {
        lock (SyncRoot)
        {
            if (restart)
            {
                DropAll();
            }

            Volatile.Write(ref channel.LastSequence, seq);
            AddLocked(seq, nowMs, data, length);
        }
    }

    /// <summary>Drops everything kept (the channel's stream restarted in a new epoch); later appends are kept again.</summary>
    public void Clear()
    {
        lock (SyncRoot)
        {
            DropAll();
        }
    }

    private void AddLocked(long seq, long nowMs, byte[] data, int length)
    {
        if (_released)
        {
            PendingMessage.DataPool.Return(data);
            return;
        }

        if (_count == _ring.Length)
        {
            if (_ring.Length < _size)
            {
                Grow();
            }
            else
            {
                DropOldest();
            }
        }

        _ring[(_head + _count) % _ring.Length] = new Entry(seq, nowMs, data, length);
        _count++;
        _bytes += length;
        BufferBytes += data.Length;
        Trim(nowMs);
    }

    private void DropAll()
    {
        while (_count > 0)
        {
            DropOldest();
        }
    }

    /// <summary>Drops messages past their age (called before reading, so nothing stale is replayed).</summary>
    public void Trim(long nowMs)
    {
        int keep = _keepLatest ? 1 : 0;
        while (_count > keep && (_bytes > _maxBytes || nowMs - this[0].AtMs > _maxAgeMs))
        {
            DropOldest();
        }
    }

    /// <summary>Gives every buffer back; later appends are dropped at once (the channel has left the registry).</summary>
    public void Release()
    {
        lock (SyncRoot)
        {
            _released = true;
            DropAll();

            _ring = [];
        }
    }

    private void DropOldest()
    {
        ref Entry oldest = ref _ring[_head];
        _bytes -= oldest.Length;
        BufferBytes -= oldest.Data.Length;
        PendingMessage.DataPool.Return(oldest.Data);
        oldest = default;
        _head = (_head + 1) % _ring.Length;
        _count--;
    }

    private void Grow()
    {
        var larger = new Entry[Math.Min(_size, Math.Max(4, _ring.Length * 2))];
        for (int i = 0; i < _count; i++)
        {
            larger[i] = this[i];
        }

        _ring = larger;
        _head = 0;
    }
}
