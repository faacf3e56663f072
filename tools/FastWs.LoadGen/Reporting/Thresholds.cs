using System.Globalization;
using System.Text.RegularExpressions;

namespace FastWs.LoadGen.Reporting;

/// <summary>A parsed <c>--threshold</c>: METRIC OP NUMBER[UNIT], e.g. <c>p99&lt;10ms</c>, <c>ratio&gt;=1.0</c>, <c>rate&gt;=950</c>.</summary>
internal sealed partial record Threshold(string Expression, string Metric, string Operator, double Number, string Unit)
{
    /// <summary>Every metric key a threshold may name, with its kind (which decides the units it accepts).</summary>
    public static readonly IReadOnlyDictionary<string, MetricKind> Known = new Dictionary<string, MetricKind>(StringComparer.OrdinalIgnoreCase)
    {
        // fanout / slow
        ["subscribers"] = MetricKind.Count, ["slow_subscribers"] = MetricKind.Count, ["connect_s"] = MetricKind.Seconds,
        ["window_s"] = MetricKind.Seconds, ["published"] = MetricKind.Count, ["publish_rate"] = MetricKind.Rate,
        ["expected"] = MetricKind.Count, ["received"] = MetricKind.Count, ["ratio"] = MetricKind.Ratio, ["rate"] = MetricKind.Rate,
        ["p50"] = MetricKind.LatencyMs, ["p90"] = MetricKind.LatencyMs, ["p99"] = MetricKind.LatencyMs, ["p999"] = MetricKind.LatencyMs,
        ["max"] = MetricKind.LatencyMs, ["mean"] = MetricKind.LatencyMs,
        ["p50_co"] = MetricKind.LatencyMs, ["p99_co"] = MetricKind.LatencyMs, ["p999_co"] = MetricKind.LatencyMs, ["co_added"] = MetricKind.Count, ["late"] = MetricKind.Count, ["seq_gaps"] = MetricKind.Count, ["seq_backwards"] = MetricKind.Count,
        ["subscribers_short"] = MetricKind.Count, ["ended_early"] = MetricKind.Count, ["untimed"] = MetricKind.Count,
        ["slow_received"] = MetricKind.Count, ["slow_ratio"] = MetricKind.Ratio, ["slow_closed_by_server"] = MetricKind.Count,
        ["publisher_max_lag_ms"] = MetricKind.LatencyMs, ["drain_s"] = MetricKind.Seconds, ["errors"] = MetricKind.Count,
        // /proc
        ["server_cpu_s"] = MetricKind.Seconds, ["server_cpu_pct"] = MetricKind.Percent, ["server_cpu_us_per_1k"] = MetricKind.Micros,
        ["server_rss_start"] = MetricKind.Bytes, ["server_rss_end"] = MetricKind.Bytes, ["server_rss_peak"] = MetricKind.Bytes,
        ["tool_cpu_pct"] = MetricKind.Percent, ["tool_gc_count"] = MetricKind.Count, ["tool_gc_pause_ms"] = MetricKind.LatencyMs, ["tool_cpu_peak_pct"] = MetricKind.Percent, ["tool_rss"] = MetricKind.Bytes,
        // connect
        ["requested"] = MetricKind.Count, ["connections"] = MetricKind.Count, ["failed"] = MetricKind.Count, ["ramp_s"] = MetricKind.Seconds,
        ["handshakes"] = MetricKind.Rate, ["upgrade_p50"] = MetricKind.LatencyMs, ["upgrade_p99"] = MetricKind.LatencyMs,
        ["upgrade_max"] = MetricKind.LatencyMs, ["ready_p50"] = MetricKind.LatencyMs, ["ready_p99"] = MetricKind.LatencyMs,
        ["alive_after_hold"] = MetricKind.Count, ["lost_during_hold"] = MetricKind.Count, ["close_s"] = MetricKind.Seconds,
        ["server_cpu_ramp_s"] = MetricKind.Seconds, ["server_cpu_us_per_handshake"] = MetricKind.Micros,
        ["server_rss_before"] = MetricKind.Bytes, ["server_rss_after"] = MetricKind.Bytes, ["mem_per_conn"] = MetricKind.Bytes,
        ["tool_cpu_ramp_pct"] = MetricKind.Percent,
        // tokens
        ["auth_refused"] = MetricKind.Count, ["authenticated"] = MetricKind.Count,
        // churn
        ["cycles"] = MetricKind.Count, ["cycles_rate"] = MetricKind.Rate, ["failed_cycles"] = MetricKind.Count,
        ["cycle_p50"] = MetricKind.LatencyMs, ["cycle_p99"] = MetricKind.LatencyMs, ["cycle_max"] = MetricKind.LatencyMs,
        ["cycles_started"] = MetricKind.Count, ["server_cpu_us_per_cycle"] = MetricKind.Micros,
        // reconnect
        ["drops"] = MetricKind.Count, ["reconnects"] = MetricKind.Count, ["reconnect_failed"] = MetricKind.Count, ["connections_lost"] = MetricKind.Count,
        ["recoveries"] = MetricKind.Count, ["recovered"] = MetricKind.Count, ["recovery_failures"] = MetricKind.Count, ["snapshots"] = MetricKind.Count,
        ["gaps"] = MetricKind.Count, ["gap_notices"] = MetricKind.Count, ["missing"] = MetricKind.Count, ["duplicates"] = MetricKind.Count,
        ["out_of_order"] = MetricKind.Count, ["behind_at_end"] = MetricKind.Count,
        ["reconnect_p50"] = MetricKind.LatencyMs, ["reconnect_p99"] = MetricKind.LatencyMs, ["reconnect_max"] = MetricKind.LatencyMs,
        // storm
        ["clients"] = MetricKind.Count, ["not_reconnected"] = MetricKind.Count, ["attempts"] = MetricKind.Count, ["peak_handshakes"] = MetricKind.Rate,
        ["bound_handshakes"] = MetricKind.Rate, ["peak_ratio"] = MetricKind.Ratio, ["server_peak_handshakes"] = MetricKind.Rate, ["server_peak_ratio"] = MetricKind.Ratio,
        ["reconnect_first_s"] = MetricKind.Seconds, ["reconnect_p50_s"] = MetricKind.Seconds, ["reconnect_last_s"] = MetricKind.Seconds, ["resets"] = MetricKind.Count, ["noticed_last_s"] = MetricKind.Seconds,
        ["server_recoveries"] = MetricKind.Count, ["server_recovery_failures"] = MetricKind.Count, ["server_replayed"] = MetricKind.Count,
        // conflation
        ["unconflated"] = MetricKind.Count, ["conflation_ratio"] = MetricKind.Ratio, ["per_subscription_rate"] = MetricKind.Rate,
        ["conflated_p50"] = MetricKind.LatencyMs, ["conflated_p90"] = MetricKind.LatencyMs, ["conflated_p99"] = MetricKind.LatencyMs,
        ["conflated_p999"] = MetricKind.LatencyMs, ["conflated_max"] = MetricKind.LatencyMs, ["conflated_mean"] = MetricKind.LatencyMs,
        ["probe_published"] = MetricKind.Count, ["probe_expected"] = MetricKind.Count, ["probe_received"] = MetricKind.Count, ["probe_ratio"] = MetricKind.Ratio,
        ["probe_p50"] = MetricKind.LatencyMs, ["probe_p90"] = MetricKind.LatencyMs, ["probe_p99"] = MetricKind.LatencyMs,
        ["probe_p999"] = MetricKind.LatencyMs, ["probe_max"] = MetricKind.LatencyMs, ["probe_mean"] = MetricKind.LatencyMs,
        ["backwards"] = MetricKind.Count, ["repeats"] = MetricKind.Count, ["stale_at_end"] = MetricKind.Count,
        ["server_cpu_us_per_1k_published"] = MetricKind.Micros, ["stats_published"] = MetricKind.Count, ["stats_conflated"] = MetricKind.Count,
        ["stats_messages_out"] = MetricKind.Count, ["stats_skipped"] = MetricKind.Count, ["conflated_waiting_max"] = MetricKind.Count,
        ["conflated_waiting_mean"] = MetricKind.Count, ["stats_working_set"] = MetricKind.Bytes, ["stats_gc_heap"] = MetricKind.Bytes,
        ["stats_history_buffer_bytes"] = MetricKind.Bytes,
        // history-memory
        ["channels"] = MetricKind.Count, ["fill_s"] = MetricKind.Seconds, ["history_channels"] = MetricKind.Count, ["kept_messages"] = MetricKind.Count,
        ["data_bytes"] = MetricKind.Bytes, ["buffer_bytes"] = MetricKind.Bytes, ["buffer_per_channel"] = MetricKind.Bytes, ["buffer_per_message"] = MetricKind.Bytes,
        ["buffer_overhead"] = MetricKind.Ratio, ["working_set_growth"] = MetricKind.Bytes, ["working_set_per_channel"] = MetricKind.Bytes,
        ["working_set_per_message"] = MetricKind.Bytes, ["working_set_overhead"] = MetricKind.Ratio, ["gc_heap_growth"] = MetricKind.Bytes,
        ["gc_heap_per_channel"] = MetricKind.Bytes, ["server_working_set"] = MetricKind.Bytes, ["server_gc_heap"] = MetricKind.Bytes,
        ["rss_per_channel"] = MetricKind.Bytes,
    };

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["p99.9"] = "p999", ["p99_9"] = "p999", ["delivered"] = "rate", ["msgs/s"] = "rate", ["delivery_ratio"] = "ratio",
        ["cycles/s"] = "cycles_rate", ["handshakes/s"] = "handshakes", ["mem"] = "mem_per_conn", ["cpu_per_1k"] = "server_cpu_us_per_1k",
    };

    [GeneratedRegex(@"^\s*([A-Za-z_][A-Za-z0-9_./]*?)\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ%/]*)\s*$")]
    private static partial Regex Pattern();

    /// <summary>Parses and checks the metric name and unit; returns an error message on failure.</summary>
    public static string? TryParse(string expression, out Threshold? threshold)
    {
        threshold = null;
        Match m = Pattern().Match(expression);
        if (!m.Success)
        {
            return $"--threshold '{expression}': expected METRIC OP NUMBER[UNIT], e.g. p99<10ms, ratio>=1.0, rate>=950";
        }

        string metric = m.Groups[1].Value;
        metric = Aliases.TryGetValue(metric, out string? alias) ? alias : metric.ToLowerInvariant();
        if (!Known.TryGetValue(metric, out MetricKind kind))
        {
            return $"--threshold '{expression}': unknown metric '{m.Groups[1].Value}' (known: {string.Join(", ", Known.Keys.Order(StringComparer.Ordinal))})";
        }

        double number = double.Parse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        string unit = m.Groups[4].Value;
        if (ToCanonical(kind, unit) is null)
        {
            return $"--threshold '{expression}': unit '{unit}' does not fit {metric} ({Units(kind)})";
        }

        threshold = new Threshold(expression, metric, m.Groups[2].Value, number, unit);
        return null;
    }

    public ThresholdResult Evaluate(RunReport report)
    {
        Metric? metric = report.Find(Metric);
        MetricKind kind = metric?.Kind ?? Known[Metric];
        double limit = Number * (ToCanonical(kind, Unit) ?? 1);
        if (metric?.Value is not double actual)
        {
            return new ThresholdResult(Expression, Metric, false, null, limit, kind, $"FAIL {Expression}: {Metric} was not measured in this run");
        }

        bool passed = Operator switch
        {
            "<" => actual < limit,
            "<=" => actual <= limit,
            ">" => actual > limit,
            ">=" => actual >= limit,
            "==" => Math.Abs(actual - limit) <= Math.Abs(limit) * 1e-9,
            _ => Math.Abs(actual - limit) > Math.Abs(limit) * 1e-9,
        };
        string verdict = passed ? "PASS" : "FAIL";
        return new ThresholdResult(Expression, Metric, passed, actual, limit, kind, $"{verdict} {Expression}: {Metric} = {Format.Value(actual, kind)} (limit {Operator} {Format.Value(limit, kind)})");
    }

    /// <summary>Multiplier from <paramref name="unit"/> to the metric's canonical unit, or null when the unit does not fit.</summary>
    private static double? ToCanonical(MetricKind kind, string unit)
    {
        string u = unit.EndsWith("/s", StringComparison.Ordinal) && kind == MetricKind.Rate ? unit[..^2] : unit;
        return kind switch
        {
            MetricKind.LatencyMs => u switch { "" or "ms" => 1, "ns" => 1e-6, "us" or "µs" => 1e-3, "s" => 1000, _ => null },
            MetricKind.Seconds => u switch { "" or "s" => 1, "ms" => 1e-3, "min" => 60, _ => null },
            MetricKind.Micros => u switch { "" or "us" or "µs" => 1, "ns" => 1e-3, "ms" => 1000, _ => null },
            MetricKind.Bytes => u switch
            {
                "" or "B" => 1, "KB" or "kB" => 1e3, "KiB" or "K" => 1024, "MB" => 1e6, "MiB" or "M" => 1024 * 1024,
                "GB" => 1e9, "GiB" or "G" => 1024.0 * 1024 * 1024, _ => null,
            },
            MetricKind.Ratio => u switch { "" => 1, "%" => 0.01, _ => null },
            MetricKind.Percent => u switch { "" or "%" => 1, _ => null },
            _ => u switch { "" => 1, "k" or "K" => 1e3, "M" => 1e6, _ => null },
        };
    }

    private static string Units(MetricKind kind) => kind switch
    {
        MetricKind.LatencyMs => "ns, us, ms (default), s",
        MetricKind.Seconds => "ms, s (default), min",
        MetricKind.Micros => "ns, us (default), ms",
        MetricKind.Bytes => "B (default), KB, KiB, MB, MiB, GB, GiB",
        MetricKind.Ratio => "none or %",
        MetricKind.Percent => "% of one core",
        _ => "none, k or M",
    };
}
