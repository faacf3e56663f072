using FastWs.LoadGen.Metrics;

namespace FastWs.LoadGen.Tests;

/// <summary>The progress line's "p99 so far": per-second histograms merged once each, the warm-up dropped at the window's start.</summary>
public sealed class LatencySoFarTests
{
    [Fact]
    public void Seconds_are_merged_once_each_and_the_warm_up_is_dropped_when_the_window_starts()
    {
        // Second s holds 100 deliveries of (s + 1) ms; 2 s of warm-up.
        var asked = new List<int>();
        var soFar = new LatencySoFar(2, second =>
        {
            asked.Add(second);
            var h = new LatencyHistogram();
            for (int i = 0; i < 100; i++)
            {
                h.Record((second + 1) * 1_000_000L);
            }

            return h;
        });

        Assert.Equal(200, soFar.Through(1).TotalCount);           // warm-up: seconds 0 and 1
        Assert.Equal(2_000_000, soFar.Through(1).Max);            // asking again adds nothing
        LatencyHistogram window = soFar.Through(3);               // second 2 starts the window: warm-up dropped
        Assert.Equal(200, window.TotalCount);
        Assert.Equal(3_000_000, window.Min);
        Assert.InRange(window.Percentile(0.99), 3_990_000, 4_010_000);
        Assert.Equal([0, 1, 2, 3], asked);
    }
}
