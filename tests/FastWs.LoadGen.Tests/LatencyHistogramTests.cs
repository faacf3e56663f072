using FastWs.LoadGen.Metrics;

namespace FastWs.LoadGen.Tests;

/// <summary>The tool's latency histogram against exact percentiles of the same values.</summary>
public sealed class LatencyHistogramTests
{
    /// <summary>The exact q-quantile the histogram approximates: the smallest value with at least q of all at or below it.</summary>
    private static long Exact(long[] sorted, double q) => sorted[Math.Max(0, (int)Math.Ceiling(q * sorted.Length) - 1)];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(42)]
    public void Percentiles_are_within_half_a_percent_of_the_exact_ones(int seed)
    {
        // Latencies in nanoseconds from 50 µs to ~2 s with a long tail, as a fan-out run records them.
        var random = new Random(seed);
        long[] values = new long[200_000];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (long)(50_000 * Math.Exp(random.NextDouble() * random.NextDouble() * 10.6));
        }

        var histogram = new LatencyHistogram();
        foreach (long value in values)
        {
            histogram.Record(value);
        }

        long[] sorted = [.. values.Order()];
        Assert.Equal(values.Length, histogram.TotalCount);
        Assert.Equal(sorted[0], histogram.Min);
        Assert.Equal(sorted[^1], histogram.Max);
        Assert.Equal(sorted[^1], histogram.Percentile(1.0));
        foreach (double q in new[] { 0.5, 0.9, 0.99, 0.999, 0.9999 })
        {
            long exact = Exact(sorted, q);
            long reported = histogram.Percentile(q);
            Assert.True(Math.Abs(reported - exact) <= exact * 0.005, $"p{q * 100}: {reported} vs exact {exact}");
        }
    }

    [Fact]
    public void Small_values_are_exact_and_an_empty_histogram_reports_zero()
    {
        var empty = new LatencyHistogram();
        Assert.Equal(0, empty.Percentile(0.99));
        Assert.Equal(0, empty.Mean);

        var histogram = new LatencyHistogram();
        for (long v = 0; v < 200; v++)
        {
            histogram.Record(v);
        }

        Assert.Equal(99, histogram.Percentile(0.5));
        Assert.Equal(197, histogram.Percentile(0.99));
        Assert.Equal(99.5, histogram.Mean);
    }

    [Fact]
    public void Merged_histograms_report_as_one()
    {
        var random = new Random(3);
        var parts = new[] { new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram() };
        var whole = new LatencyHistogram();
        for (int i = 0; i < 30_000; i++)
        {
            long value = random.NextInt64(1_000, 50_000_000);
            parts[i % 3].Record(value);
            whole.Record(value);
        }

        var merged = new LatencyHistogram();
        foreach (LatencyHistogram part in parts)
        {
            merged.Add(part);
        }

        Assert.Equal(whole.TotalCount, merged.TotalCount);
        Assert.Equal(whole.Min, merged.Min);
        Assert.Equal(whole.Max, merged.Max);
        foreach (double q in new[] { 0.5, 0.99, 0.999 })
        {
            Assert.Equal(whole.Percentile(q), merged.Percentile(q));
        }
    }

    [Fact]
    public void Count_above_a_bound_counts_the_late_ones()
    {
        var histogram = new LatencyHistogram();
        for (int i = 0; i < 1_000; i++)
        {
            histogram.Record(i < 990 ? 1_000_000 : 200_000_000);
        }

        Assert.Equal(10, histogram.CountAbove(100_000_000));
        Assert.Equal(1_000, histogram.CountAbove(500_000));
    }

    [Fact]
    public void Coordinated_omission_correction_fills_in_the_samples_a_stall_hid()
    {
        // One stream expected every 1 ms: 99 deliveries of 100 µs, then one of 10 ms (a stall that, under a
        // sampler waiting for replies, would have hidden the 9 sends due during it).
        const long interval = 1_000_000;
        var raw = new LatencyHistogram();
        var corrected = new LatencyHistogram();
        for (int i = 0; i < 100; i++)
        {
            long value = i == 99 ? 10_000_000 : 100_000;
            raw.Record(value);
            corrected.RecordWithExpectedInterval(value, interval);
        }

        // HdrHistogram adds 9 ms, 8 ms, ... 1 ms: 9 samples.
        Assert.Equal(100, raw.TotalCount);
        Assert.Equal(109, corrected.TotalCount);
        Assert.Equal(corrected.TotalCount, corrected.Histogram.TotalCount);
        Assert.Equal(100_000, corrected.Min);
        Assert.Equal(10_000_000, corrected.Max);
        Assert.Equal((99 * 100_000.0) + 10_000_000 + (45 * 1_000_000.0), corrected.Sum);
        Assert.InRange(raw.Percentile(0.95), 99_600, 100_400);                // 100 µs to bucket precision
        Assert.InRange(corrected.Percentile(0.95), 4_950_000, 5_050_000);   // 104th of 109: the 5 ms fill-in
        Assert.Equal(raw.Percentile(0.5), corrected.Percentile(0.5));

        // Values at or under the interval add nothing; merging keeps the counts.
        var quiet = new LatencyHistogram();
        quiet.RecordWithExpectedInterval(interval, interval);
        quiet.RecordWithExpectedInterval(5, interval);
        Assert.Equal(2, quiet.TotalCount);
        corrected.Add(quiet);
        Assert.Equal(111, corrected.TotalCount);
        Assert.Equal(5, corrected.Min);
    }

    [Theory]
    [InlineData(1_000, 10, 10_000_000)]       // 1,000 msgs/s over 10 channels: 100 per stream, 10 ms apart
    [InlineData(200, 2, 10_000_000)]
    [InlineData(50_000, 1, 20_000)]
    [InlineData(0, 4, 0)]
    public void The_expected_interval_is_channels_over_rate(double rate, int channels, long expectedNanos) =>
        Assert.Equal(expectedNanos, FastWs.LoadGen.Scenarios.FanoutScenario.ExpectedIntervalNanos(rate, channels));
}
