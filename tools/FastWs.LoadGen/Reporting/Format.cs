using System.Globalization;

namespace FastWs.LoadGen.Reporting;

/// <summary>Human formatting of metric values (invariant culture: reports look the same everywhere).</summary>
internal static class Format
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Value(double? value, MetricKind kind)
    {
        if (value is not double v)
        {
            return "n/a";
        }

        return kind switch
        {
            MetricKind.Count => Math.Abs(v - Math.Round(v)) < 1e-9 ? v.ToString("N0", Inv) : v.ToString("N2", Inv),
            MetricKind.Rate => v.ToString(v >= 100 ? "N0" : "N1", Inv) + " /s",
            MetricKind.Ratio => v.ToString("F4", Inv),
            MetricKind.LatencyMs => Latency(v),
            MetricKind.Bytes => Bytes(v),
            MetricKind.Percent => v.ToString("F1", Inv) + " %",
            MetricKind.Seconds => v.ToString("F2", Inv) + " s",
            MetricKind.Micros => v.ToString("N0", Inv) + " µs",
            _ => v.ToString(Inv),
        };
    }

    public static string Latency(double ms) => ms switch
    {
        < 1 => (ms * 1000).ToString("F0", Inv) + " µs",
        < 10 => ms.ToString("F2", Inv) + " ms",
        < 1000 => ms.ToString("F1", Inv) + " ms",
        _ => (ms / 1000).ToString("F2", Inv) + " s",
    };

    public static string Bytes(double bytes)
    {
        double abs = Math.Abs(bytes);
        return abs switch
        {
            < 10 * 1024 => bytes.ToString("N0", Inv) + " B",
            < 10 * 1024 * 1024 => (bytes / 1024).ToString("N1", Inv) + " KiB",
            _ => (bytes / (1024 * 1024)).ToString("N1", Inv) + " MiB",
        };
    }

    public static string Number(double value, string format = "N0") => value.ToString(format, Inv);
}
