using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Tests;

/// <summary>--threshold rules: what parses, what is refused with a message, and how a rule judges a report.</summary>
public sealed class ThresholdTests
{
    private static RunReport Report()
    {
        var report = new RunReport("fanout", "ws://127.0.0.1:1/ws");
        report.Add("p99", "latency p99", 4.2, MetricKind.LatencyMs);
        report.Add("ratio", "delivery ratio", 1.0, MetricKind.Ratio);
        report.Add("rate", "delivered msgs/s", 99_500, MetricKind.Rate);
        report.Add("mem_per_conn", "server memory per connection", 1_800, MetricKind.Bytes);
        return report;
    }

    private static ThresholdResult Judge(string expression)
    {
        Assert.Null(Threshold.TryParse(expression, out Threshold? threshold));
        return threshold!.Evaluate(Report());
    }

    [Theory]
    [InlineData("p99<10ms", true)]
    [InlineData("p99 < 4ms", false)]
    [InlineData("p99<4200us", false)]
    [InlineData("p99<=4200us", true)]
    [InlineData("p99<0.01s", true)]
    [InlineData("ratio>=1.0", true)]
    [InlineData("delivery_ratio>=1", true)]
    [InlineData("rate>=100000", false)]
    [InlineData("msgs/s>=95000/s", true)]
    [InlineData("mem<2KiB", true)]
    [InlineData("mem_per_conn<1.5KiB", false)]
    public void A_rule_passes_or_fails_on_the_measured_value_in_its_unit(string expression, bool passes)
    {
        ThresholdResult result = Judge(expression);
        Assert.Equal(passes, result.Passed);
        Assert.StartsWith(passes ? "PASS" : "FAIL", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rule_on_a_metric_this_run_did_not_measure_fails()
    {
        ThresholdResult result = Judge("handshakes>1000");
        Assert.False(result.Passed);
        Assert.Contains("not measured", result.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("p99", "expected METRIC OP NUMBER")]
    [InlineData("p99<<10ms", "expected METRIC OP NUMBER")]
    [InlineData("latency<10ms", "unknown metric 'latency'")]
    [InlineData("p99<10KiB", "unit 'KiB' does not fit p99")]
    [InlineData("ratio>1ms", "unit 'ms' does not fit ratio")]
    public void A_malformed_rule_is_refused_with_the_reason(string expression, string reason)
    {
        string? problem = Threshold.TryParse(expression, out Threshold? threshold);
        Assert.Null(threshold);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }
}
