namespace FastWs.LoadGen.Reporting;

/// <summary>How a metric's value is expressed (and which units a threshold on it may use).</summary>
internal enum MetricKind
{
    /// <summary>A plain number of things.</summary>
    Count,

    /// <summary>Per second.</summary>
    Rate,

    /// <summary>A fraction, 1.0 = all.</summary>
    Ratio,

    /// <summary>Milliseconds.</summary>
    LatencyMs,

    /// <summary>Bytes.</summary>
    Bytes,

    /// <summary>Percent of one core (200 = two cores busy).</summary>
    Percent,

    /// <summary>Seconds (CPU time, durations).</summary>
    Seconds,

    /// <summary>Microseconds (CPU per 1,000 messages).</summary>
    Micros,
}

/// <summary>One number of the summary. <see cref="Key"/> is what thresholds and the JSON use.</summary>
internal sealed record Metric(string Key, string Label, double? Value, MetricKind Kind, string? Note = null);

/// <summary>A per-second column of the time series.</summary>
internal sealed class SeriesColumn
{
    public SeriesColumn(string key, string label, int length)
    {
        Key = key;
        Label = label;
        Values = new double?[length];
    }

    public string Key { get; }

    public string Label { get; }

    public double?[] Values { get; }
}

/// <summary>A chart of the HTML report: some series columns sharing a y axis.</summary>
internal sealed record ChartSpec(string Title, string Unit, IReadOnlyList<string> Columns)
{
    /// <summary>Columns drawn dashed (reference lines such as "expected").</summary>
    public IReadOnlyList<string> Dashed { get; init; } = [];
}

/// <summary>The outcome of one --threshold.</summary>
internal sealed record ThresholdResult(string Expression, string Metric, bool Passed, double? Actual, double Limit, MetricKind Kind, string Message);

/// <summary>Everything a run produced: what the text, JSON and HTML reports are written from.</summary>
internal sealed class RunReport
{
    public RunReport(string scenario, string url)
    {
        Scenario = scenario;
        Url = url;
    }

    public string Scenario { get; }

    public string Url { get; }

    public DateTimeOffset StartedAt { get; set; } = DateTimeOffset.UtcNow;

    public DateTimeOffset FinishedAt { get; set; } = DateTimeOffset.UtcNow;

    /// <summary>True when the run was stopped early (Ctrl+C, SIGTERM) or by a fatal error; the numbers cover what ran.</summary>
    public bool Partial { get; set; }

    public string? StopReason { get; set; }

    /// <summary>Set when the run could not do what it was asked (no connection succeeded, the publisher died...).</summary>
    public string? FatalError { get; set; }

    /// <summary>Seconds of warm-up at the start of the time series (shaded in the charts).</summary>
    public double WarmupSeconds { get; set; }

    /// <summary>Seconds from t0 to the end of the measured window.</summary>
    public double MeasuredEndSeconds { get; set; }

    public List<KeyValuePair<string, string>> Settings { get; } = [];

    /// <summary>Latency histograms for <c>latency.hlog</c> (fanout and slow), or null.</summary>
    public LatencyLog? LatencyLog { get; set; }

    /// <summary>Token kind: none, fixed, file, hs256 or es256 (summary.json's <c>token.kind</c>, to compare runs).</summary>
    public string TokenKind { get; set; } = "none";

    /// <summary>Where the tokens went: url, header or message; null without tokens.</summary>
    public string? TokenIn { get; set; }

    public List<Metric> Metrics { get; } = [];

    public List<(string Kind, long Count, string? Example)> Errors { get; set; } = [];

    public List<ThresholdResult> Thresholds { get; } = [];

    public List<string> Warnings { get; } = [];

    public List<SeriesColumn> Series { get; } = [];

    public List<ChartSpec> Charts { get; } = [];

    public int SeriesLength => Series.Count == 0 ? 0 : Series[0].Values.Length;

    public void Setting(string name, object? value) =>
        Settings.Add(new(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""));

    public void Add(string key, string label, double? value, MetricKind kind, string? note = null) =>
        Metrics.Add(new Metric(key, label, value is double d && (double.IsNaN(d) || double.IsInfinity(d)) ? null : value, kind, note));

    public Metric? Find(string key) => Metrics.FirstOrDefault(m => string.Equals(m.Key, key, StringComparison.OrdinalIgnoreCase));

    public SeriesColumn AddSeries(string key, string label, int length)
    {
        var column = new SeriesColumn(key, label, length);
        Series.Add(column);
        return column;
    }
}
