using FastWs.LoadGen.Metrics;
using HdrHistogram;

namespace FastWs.LoadGen.Reporting;

/// <summary>
/// The latency histograms of a run for the usual HdrHistogram tooling (HistogramLogProcessor, HistogramLogAnalyzer,
/// HdrHistogram's <see cref="HistogramLogReader"/>): values in nanoseconds.
/// </summary>
/// <param name="Start">Wall-clock time of the run's t0 (the log's start time; interval timestamps are relative to it).</param>
/// <param name="PerSecond">Latency by arrival second since t0 (null or empty seconds are skipped), written untagged as the interval stream.</param>
/// <param name="Window">The whole measured window's latency, tagged <c>window</c>.</param>
/// <param name="WindowCorrected">The same corrected for coordinated omission, tagged <c>window-co</c> (skipped when empty).</param>
/// <param name="WindowStartSeconds">Start of the measured window, seconds since t0.</param>
/// <param name="WindowEndSeconds">End of the measured window, seconds since t0.</param>
internal sealed record LatencyLog(
    DateTimeOffset Start,
    IReadOnlyList<LatencyHistogram?> PerSecond,
    LatencyHistogram Window,
    LatencyHistogram? WindowCorrected,
    double WindowStartSeconds,
    double WindowEndSeconds);

/// <summary>Writes <see cref="LatencyLog"/> as an HdrHistogram interval log (<c>latency.hlog</c>, ASCII) with <see cref="HistogramLogWriter"/>.</summary>
internal static class HlogReport
{
    public const string FileName = "latency.hlog";

    public const string WindowTag = "window";

    public const string CorrectedTag = "window-co";

    public static void Write(Stream stream, LatencyLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        long startMs = log.Start.ToUnixTimeMilliseconds();
        var histograms = new List<HistogramBase>();
        for (int second = 0; second < log.PerSecond.Count; second++)
        {
            if (log.PerSecond[second] is { TotalCount: > 0 } h)
            {
                histograms.Add(Stamped(h, null, startMs + (second * 1000L), startMs + ((second + 1) * 1000L)));
            }
        }

        long windowStartMs = startMs + (long)(log.WindowStartSeconds * 1000);
        long windowEndMs = startMs + (long)(log.WindowEndSeconds * 1000);
        histograms.Add(Stamped(log.Window, WindowTag, windowStartMs, windowEndMs));
        if (log.WindowCorrected is { TotalCount: > 0 } corrected)
        {
            histograms.Add(Stamped(corrected, CorrectedTag, windowStartMs, windowEndMs));
        }

        // HdrHistogram.NET 2.5.0's writer emits UTF-16 with a byte-order mark, which the Java tooling
        // (HistogramLogProcessor, HistogramLogAnalyzer) does not read: the log is plain ASCII, so re-encode it as such.
        using var utf16 = new MemoryStream();
        using (var writer = new HistogramLogWriter(utf16))
        {
            writer.Write(log.Start.UtcDateTime, [.. histograms]);
        }

        utf16.Position = 0;
        using var reader = new StreamReader(utf16, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        byte[] ascii = System.Text.Encoding.ASCII.GetBytes(reader.ReadToEnd());
        stream.Write(ascii);
    }

    /// <summary>A copy with the log's timestamps and tag (the run's histograms stay untouched).</summary>
    private static HistogramBase Stamped(LatencyHistogram source, string? tag, long startMs, long endMs)
    {
        HistogramBase copy = source.Histogram.Copy();
        copy.StartTimeStamp = startMs;
        copy.EndTimeStamp = endMs;
        copy.Tag = tag;
        return copy;
    }
}
