using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Reporting;
using HdrHistogram;

namespace FastWs.LoadGen.Tests;

/// <summary>latency.hlog: written with HdrHistogram's HistogramLogWriter, read back with its HistogramLogReader.</summary>
public sealed class HlogReportTests
{
    [Fact]
    public void The_log_reads_back_with_the_intervals_the_window_and_the_corrected_window()
    {
        var seconds = new LatencyHistogram?[] { Filled(10, 200_000), null, Filled(20, 300_000), Filled(5, 4_000_000) };
        var window = new LatencyHistogram();
        window.Add(seconds[2]!);
        window.Add(seconds[3]!);
        var corrected = new LatencyHistogram();
        corrected.RecordWithExpectedInterval(4_000_000, 1_000_000);
        var start = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

        using var stream = new MemoryStream();
        HlogReport.Write(stream, new LatencyLog(start, seconds, window, corrected, 1.5, 3.5));

        // Plain ASCII as the Java tooling reads it (the .NET writer alone would write UTF-16 with a byte-order mark).
        byte[] bytes = stream.ToArray();
        Assert.StartsWith("#[Histogram log format version 1.3]", System.Text.Encoding.ASCII.GetString(bytes), StringComparison.Ordinal);
        Assert.All(bytes, b => Assert.True(b is > 0 and < 128));
        using var reader = new HistogramLogReader(new MemoryStream(bytes));
        HistogramBase[] read = [.. reader.ReadHistograms()];
        Assert.Equal(5, read.Length);   // three non-empty seconds, the window, the corrected window

        HistogramBase[] intervals = [.. read.Where(h => string.IsNullOrEmpty(h.Tag))];
        Assert.Equal(new long[] { 10, 20, 5 }, intervals.Select(h => h.TotalCount));
        long startMs = start.ToUnixTimeMilliseconds();
        Assert.Equal(new long[] { startMs, startMs + 2000, startMs + 3000 }, intervals.Select(h => h.StartTimeStamp));
        Assert.Equal(300_000, intervals[1].LowestEquivalentValue(intervals[1].GetValueAtPercentile(50)), 0.01 * 300_000);

        HistogramBase w = Assert.Single(read, h => h.Tag == HlogReport.WindowTag);
        Assert.Equal(25, w.TotalCount);
        Assert.Equal(startMs + 1500, w.StartTimeStamp);
        Assert.Equal(startMs + 3500, w.EndTimeStamp);
        Assert.Equal(4_000_000, w.GetMaxValue(), 0.01 * 4_000_000);

        HistogramBase co = Assert.Single(read, h => h.Tag == HlogReport.CorrectedTag);
        Assert.Equal(4, co.TotalCount);   // 4 ms plus the filled-in 3, 2 and 1 ms

        // The run's own histograms keep no log timestamps or tags.
        Assert.Null(window.Histogram.Tag);
    }

    private static LatencyHistogram Filled(int count, long value)
    {
        var h = new LatencyHistogram();
        for (int i = 0; i < count; i++)
        {
            h.Record(value);
        }

        return h;
    }
}
