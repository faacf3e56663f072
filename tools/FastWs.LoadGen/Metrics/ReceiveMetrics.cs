namespace FastWs.LoadGen.Metrics;

/// <summary>
/// Delivery and latency counters for received data messages, split by connection group (0 = healthy, 1 = slow).
/// Every receiving thread records into its own shard (no locks, no interlocked operations); shards are merged
/// when a snapshot is taken. A message counts toward the measured window when its publish timestamp lies in
/// [WindowStart, WindowEnd), which is exactly how the publisher counts what it published, so the delivery ratio
/// does not depend on when messages arrive.
/// </summary>
internal sealed class ReceiveMetrics : IDisposable
{
    private readonly ThreadLocal<Shard> _shards;
    private readonly int _groups;
    private long _windowStart = long.MaxValue;
    private long _windowEnd = long.MaxValue;

    public ReceiveMetrics(int groups, long t0, int maxSeconds, double onTimeMs)
    {
        _groups = groups;
        T0 = t0;
        MaxSeconds = maxSeconds;
        OnTimeNanos = (long)(onTimeMs * 1e6);
        _shards = new ThreadLocal<Shard>(() => new Shard(_groups, MaxSeconds), trackAllValues: true);
    }

    public long T0 { get; }

    public int MaxSeconds { get; }

    /// <summary>
    /// The intended interval between two messages of one subscriber's stream, in nanoseconds; when above 0, every
    /// in-window delivery is also recorded into <see cref="GroupSnapshot.WindowCorrected"/> with HdrHistogram's
    /// coordinated-omission correction against it. Set before the run starts.
    /// </summary>
    public long ExpectedIntervalNanos { get; set; }

    /// <summary>Deliveries slower than this count as late.</summary>
    public long OnTimeNanos { get; }

    public long WindowStart
    {
        get => Volatile.Read(ref _windowStart);
        set => Volatile.Write(ref _windowStart, value);
    }

    public long WindowEnd
    {
        get => Volatile.Read(ref _windowEnd);
        set => Volatile.Write(ref _windowEnd, value);
    }

    /// <summary>Records one delivery. Returns true when it counts toward the measured window.</summary>
    public bool Record(int group, long publishedAt, long receivedAt)
    {
        GroupShard shard = _shards.Value!.Groups[group];
        long latency = Clock.ToNanos(receivedAt - publishedAt);
        shard.Total++;
        int second = (int)Clock.ToSeconds(receivedAt - T0);
        if ((uint)second < (uint)MaxSeconds)
        {
            shard.PerSecondCount[second]++;
            (shard.PerSecondLatency[second] ??= new LatencyHistogram()).Record(latency);
        }

        if (publishedAt >= WindowStart && publishedAt < WindowEnd)
        {
            shard.InWindow++;
            shard.Window.Record(latency);
            if (ExpectedIntervalNanos > 0)
            {
                shard.WindowCorrected.RecordWithExpectedInterval(latency, ExpectedIntervalNanos);
            }
            if (latency > OnTimeNanos)
            {
                shard.Late++;
            }

            return true;
        }

        return false;
    }

    /// <summary>A data message without a readable timestamp (another publisher on the channel, or a server that rewrote it).</summary>
    public void RecordUntimed(int group) => _shards.Value!.Groups[group].Untimed++;

    public GroupSnapshot Snapshot(int group)
    {
        var result = new GroupSnapshot(MaxSeconds);
        foreach (Shard shard in _shards.Values)
        {
            GroupShard g = shard.Groups[group];
            result.Total += g.Total;
            result.InWindow += g.InWindow;
            result.Late += g.Late;
            result.Untimed += g.Untimed;
            result.Window.Add(g.Window);
            result.WindowCorrected.Add(g.WindowCorrected);
            for (int s = 0; s < MaxSeconds; s++)
            {
                result.PerSecondCount[s] += g.PerSecondCount[s];
                if (g.PerSecondLatency[s] is { } h)
                {
                    (result.PerSecondLatency[s] ??= new LatencyHistogram()).Add(h);
                }
            }
        }

        return result;
    }

    /// <summary>Messages counted in the window so far, cheaply (for the drain wait).</summary>
    public long InWindowCount(int group)
    {
        long sum = 0;
        foreach (Shard shard in _shards.Values)
        {
            sum += Volatile.Read(ref shard.Groups[group].InWindow);
        }

        return sum;
    }

    /// <summary>Deliveries received during second <paramref name="second"/> (for the live progress line).</summary>
    public (long Count, LatencyHistogram Latency) Second(int group, int second)
    {
        long count = 0;
        var latency = new LatencyHistogram();
        if ((uint)second >= (uint)MaxSeconds)
        {
            return (0, latency);
        }

        foreach (Shard shard in _shards.Values)
        {
            GroupShard g = shard.Groups[group];
            count += Volatile.Read(ref g.PerSecondCount[second]);
            if (Volatile.Read(ref g.PerSecondLatency[second]) is { } h)
            {
                latency.Add(h);
            }
        }

        return (count, latency);
    }

    public void Dispose() => _shards.Dispose();

    private sealed class Shard
    {
        public Shard(int groups, int maxSeconds)
        {
            Groups = new GroupShard[groups];
            for (int i = 0; i < groups; i++)
            {
                Groups[i] = new GroupShard(maxSeconds);
            }
        }

        public GroupShard[] Groups { get; }
    }

    private sealed class GroupShard
    {
        public GroupShard(int maxSeconds)
        {
            PerSecondCount = new long[maxSeconds];
            PerSecondLatency = new LatencyHistogram?[maxSeconds];
        }

        public readonly LatencyHistogram Window = new();
        public readonly LatencyHistogram WindowCorrected = new();
        public readonly long[] PerSecondCount;
        public readonly LatencyHistogram?[] PerSecondLatency;
        public long Total;
        public long InWindow;
        public long Late;
        public long Untimed;
    }
}

/// <summary>Merged counters of one group.</summary>
internal sealed class GroupSnapshot
{
    public GroupSnapshot(int maxSeconds)
    {
        PerSecondCount = new long[maxSeconds];
        PerSecondLatency = new LatencyHistogram?[maxSeconds];
    }

    public long Total;
    public long InWindow;
    public long Late;
    public long Untimed;
    public LatencyHistogram Window { get; } = new();

    /// <summary>The window's latencies corrected for coordinated omission (empty unless <see cref="ReceiveMetrics.ExpectedIntervalNanos"/> is set).</summary>
    public LatencyHistogram WindowCorrected { get; } = new();

    public long[] PerSecondCount { get; }
    public LatencyHistogram?[] PerSecondLatency { get; }
}
