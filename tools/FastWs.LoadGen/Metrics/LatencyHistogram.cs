using HdrHistogram;
using HdrHistogram.Iteration;

namespace FastWs.LoadGen.Metrics;

/// <summary>
/// A latency histogram of non-negative values (the tool records nanoseconds), backed by HdrHistogram's
/// <see cref="LongHistogram"/> with 2 significant digits: the same log-linear layout the tool's hand-written histogram
/// had (values below 256 counted exactly, each power of two above split into 128 equal buckets, about 39 KB per
/// instance), so committed comparisons keep their meaning and the many per-second, per-thread instances stay small.
/// A reported percentile is its bucket's midpoint (HdrHistogram's median-equivalent value), clamped to the recorded
/// min and max: within 0.4 % of the recorded value. Values over about 4.9 hours (2^44 ns) are clamped.
/// Min, max and the sum are tracked exactly beside the counts. No locks: each thread records into its own instance
/// and instances are merged (<see cref="Add"/>) for reporting.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>Keeps today's precision: HdrHistogram sizes 2 digits as 256 exact values, then 128 sub-buckets per power of two.</summary>
    public const int SignificantDigits = 2;

    public const long MaxTrackable = (1L << 44) - 1;

    public LatencyHistogram() => Histogram = new LongHistogram(MaxTrackable, SignificantDigits);

    /// <summary>The underlying HdrHistogram (for .hlog output and HdrHistogram tooling).</summary>
    public LongHistogram Histogram { get; }

    public long TotalCount { get; private set; }

    public long Min { get; private set; } = long.MaxValue;

    public long Max { get; private set; }

    public double Sum { get; private set; }

    public double Mean => TotalCount == 0 ? 0 : Sum / TotalCount;

    public void Record(long value)
    {
        value = Clamp(value);
        Histogram.RecordValue(value);
        Track(value, 1);
    }

    /// <summary>
    /// Records <paramref name="value"/> and, when it exceeds <paramref name="expectedInterval"/>, the values a sampler
    /// stalled for that long would have missed (value - interval, value - 2 × interval, ... down to the interval):
    /// HdrHistogram's coordinated-omission correction (<see cref="HistogramBase.RecordValueWithExpectedInterval"/>).
    /// </summary>
    public void RecordWithExpectedInterval(long value, long expectedInterval)
    {
        value = Clamp(value);
        long before = Histogram.TotalCount;
        Histogram.RecordValueWithExpectedInterval(value, expectedInterval);
        Track(value, 1);
        if (expectedInterval > 0 && value > expectedInterval)
        {
            // The filled-in values step down by the interval from value - interval: count them and their sum.
            long added = Histogram.TotalCount - before - 1;
            long smallest = value - (added * expectedInterval);
            TotalCount += added;
            Sum += added * (double)(value - expectedInterval + smallest) / 2;
            Min = Math.Min(Min, smallest);
        }
    }

    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.TotalCount == 0)
        {
            return;
        }

        Histogram.Add(other.Histogram);
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
        foreach (HistogramIterationValue v in Histogram.RecordedValues())
        {
            if (v.TotalCountToThisValue >= target)
            {
                return Math.Clamp(Histogram.MedianEquivalentValue(v.ValueIteratedTo), Min, Max);
            }
        }

        return Max;
    }

    /// <summary>Number of recorded values above <paramref name="value"/> (to bucket precision: values in its bucket do not count).</summary>
    public long CountAbove(long value)
    {
        long bucketTop = Histogram.HighestEquivalentValue(Clamp(value));
        long count = 0;
        foreach (HistogramIterationValue v in Histogram.RecordedValues())
        {
            if (Histogram.LowestEquivalentValue(v.ValueIteratedTo) > bucketTop)
            {
                count += v.CountAddedInThisIterationStep;
            }
        }

        return count;
    }

    private static long Clamp(long value) => Math.Clamp(value, 0, MaxTrackable);

    private void Track(long value, long count)
    {
        TotalCount += count;
        Sum += value * (double)count;
        if (value < Min)
        {
            Min = value;
        }

        if (value > Max)
        {
            Max = value;
        }
    }
}
