using System.Numerics;

namespace FastWs.LoadGen.Metrics;

/// <summary>
/// A compact HDR-style log-linear histogram of non-negative values (the tool records nanoseconds).
/// Values below 256 are counted exactly; above that each power of two is split into 128 equal buckets, so a
/// bucket is at most 1/128 of the values in it wide and a reported value (the bucket's midpoint, clamped to the
/// recorded min and max) is within 0.4 % of the recorded one (under 1 % by a wide margin). Values over about
/// 4.9 hours (2^44 ns) are clamped. Recording is a shift, a count-leading-zeros and an increment, with no locks:
/// each thread records into its own instance and instances are merged for reporting.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 8;
    private const int SubBucketCount = 1 << SubBucketBits;   // 256 exact values in the first bucket
    private const int SubBucketHalf = SubBucketCount / 2;    // 128 buckets per power of two above it
    private const int MaxValueBits = 44;
    private const long MaxTrackable = (1L << MaxValueBits) - 1;
    private const int BucketCount = (MaxValueBits - SubBucketBits + 2) * SubBucketHalf;

    private readonly long[] _counts = new long[BucketCount];

    public long TotalCount { get; private set; }

    public long Min { get; private set; } = long.MaxValue;

    public long Max { get; private set; }

    public double Sum { get; private set; }

    public double Mean => TotalCount == 0 ? 0 : Sum / TotalCount;

    public void Record(long value)
    {
        if (value < 0)
        {
            value = 0;
        }
        else if (value > MaxTrackable)
        {
            value = MaxTrackable;
        }

        _counts[IndexOf(value)]++;
        TotalCount++;
        Sum += value;
        if (value < Min)
        {
            Min = value;
        }

        if (value > Max)
        {
            Max = value;
        }
    }

    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.TotalCount == 0)
        {
            return;
        }

        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        TotalCount += other.TotalCount;
        Sum += other.Sum;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1): the smallest recorded value with at least q of all values at or below it.</summary>
    public long Percentile(double q)
    {
        if (TotalCount == 0)
        {
            return 0;
        }

        if (q >= 1.0)
        {
            return Max;
        }

        long target = Math.Max(1, (long)Math.Ceiling(q * TotalCount));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= target)
            {
                return Math.Clamp(Midpoint(i), Min, Max);
            }
        }

        return Max;
    }

    /// <summary>Number of recorded values above <paramref name="value"/> (to bucket precision).</summary>
    public long CountAbove(long value)
    {
        int from = IndexOf(Math.Clamp(value, 0, MaxTrackable)) + 1;
        long count = 0;
        for (int i = from; i < _counts.Length; i++)
        {
            count += _counts[i];
        }

        return count;
    }

    internal static int IndexOf(long value)
    {
        if (value < SubBucketCount)
        {
            return (int)value;
        }

        int msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        int shift = msb - (SubBucketBits - 1);               // value >> shift lies in [128, 256)
        return (shift * SubBucketHalf) + (int)(value >> shift);
    }

    internal static long LowestEquivalent(int index)
    {
        if (index < SubBucketCount)
        {
            return index;
        }

        int shift = (index / SubBucketHalf) - 1;
        long sub = index - (shift * SubBucketHalf);
        return sub << shift;
    }

    private static long Midpoint(int index)
    {
        if (index < SubBucketCount)
        {
            return index;
        }

        int shift = (index / SubBucketHalf) - 1;
        return LowestEquivalent(index) + ((1L << shift) >> 1);
    }
}
