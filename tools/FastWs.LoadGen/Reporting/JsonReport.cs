using System.Text.Json;

namespace FastWs.LoadGen.Reporting;

/// <summary>
/// summary.json: the same numbers in a stable machine-readable shape (metrics keyed by their threshold names,
/// in canonical units: latencies in ms, memory in bytes, CPU in % of one core or µs), plus the per-second series.
/// </summary>
internal static class JsonReport
{
    public const int SchemaVersion = 1;

    public static void Write(Stream stream, RunReport report)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("tool", "FastWs.LoadGen");
        json.WriteNumber("schemaVersion", SchemaVersion);
        json.WriteString("scenario", report.Scenario);
        json.WriteString("url", report.Url);
        json.WriteString("startedAt", report.StartedAt);
        json.WriteString("finishedAt", report.FinishedAt);
        json.WriteBoolean("partial", report.Partial);
        WriteNullable(json, "stopReason", report.StopReason);
        WriteNullable(json, "fatalError", report.FatalError);
        json.WriteNumber("warmupSeconds", report.WarmupSeconds);
        json.WriteString("machine", $"{Environment.MachineName}, {Environment.ProcessorCount} CPU(s) for the tool, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");

        json.WriteStartObject("token");
        json.WriteString("kind", report.TokenKind);
        WriteNullable(json, "in", report.TokenIn);
        json.WriteEndObject();

        json.WriteStartObject("settings");
        foreach ((string name, string value) in report.Settings)
        {
            json.WriteString(name, value);
        }

        json.WriteEndObject();

        json.WriteStartObject("metrics");
        foreach (Metric m in report.Metrics)
        {
            json.WriteStartObject(m.Key);
            if (m.Value is double v)
            {
                json.WriteNumber("value", Math.Round(v, 6));
            }
            else
            {
                json.WriteNull("value");
            }

            json.WriteString("unit", Unit(m.Kind));
            json.WriteString("label", m.Label);
            WriteNullable(json, "note", m.Note);
            json.WriteEndObject();
        }

        json.WriteEndObject();

        json.WriteStartArray("errors");
        foreach ((string kind, long count, string? example) in report.Errors)
        {
            json.WriteStartObject();
            json.WriteString("kind", kind);
            json.WriteNumber("count", count);
            WriteNullable(json, "example", example);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartArray("warnings");
        foreach (string w in report.Warnings)
        {
            json.WriteStringValue(w);
        }

        json.WriteEndArray();

        json.WriteBoolean("thresholdsPassed", report.Thresholds.All(t => t.Passed));
        json.WriteStartArray("thresholds");
        foreach (ThresholdResult t in report.Thresholds)
        {
            json.WriteStartObject();
            json.WriteString("expression", t.Expression);
            json.WriteString("metric", t.Metric);
            json.WriteBoolean("passed", t.Passed);
            if (t.Actual is double a)
            {
                json.WriteNumber("actual", Math.Round(a, 6));
            }
            else
            {
                json.WriteNull("actual");
            }

            json.WriteNumber("limit", t.Limit);
            json.WriteString("unit", Unit(t.Kind));
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartObject("timeSeries");
        json.WriteString("x", "seconds since t0 (warm-up first)");
        foreach (SeriesColumn column in report.Series)
        {
            json.WriteStartArray(column.Key);
            foreach (double? v in column.Values)
            {
                if (v is double d && double.IsFinite(d))
                {
                    json.WriteNumberValue(Math.Round(d, 4));
                }
                else
                {
                    json.WriteNullValue();
                }
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    public static string Unit(MetricKind kind) => kind switch
    {
        MetricKind.Count => "count",
        MetricKind.Rate => "per_second",
        MetricKind.Ratio => "ratio",
        MetricKind.LatencyMs => "ms",
        MetricKind.Bytes => "bytes",
        MetricKind.Percent => "percent_of_one_core",
        MetricKind.Seconds => "s",
        MetricKind.Micros => "us",
        _ => "",
    };

    private static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
