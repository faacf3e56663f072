using System.Globalization;
using System.Net;
using System.Text;

namespace FastWs.LoadGen.Reporting;

/// <summary>
/// report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) with the summary
/// table, thresholds, errors and per-second line charts (throughput, latency p50/p99, CPU, RSS).
/// </summary>
internal static class HtmlReport
{
    private const int Width = 920;
    private const int Height = 280;
    private const int Left = 72;
    private const int Right = 16;
    private const int Top = 34;
    private const int Bottom = 40;

    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(RunReport report)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append("<title>FastWs.LoadGen · ").Append(E(report.Scenario)).Append("</title>");
        html.Append("""
            <style>
            body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:960px;color:#222}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
            table{border-collapse:collapse;font-size:14px;width:100%} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
            td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .key{color:#888;font-family:monospace;font-size:12px}
            .pass{color:#1a7f37;font-weight:600} .fail{color:#cf222e;font-weight:600} .warn{color:#9a6700} .meta{color:#666;font-size:13px}
            .fatal{background:#ffebe9;border:1px solid #cf222e;padding:8px;margin:8px 0} svg{display:block;margin:8px 0 18px}
            </style></head><body>
            """);
        html.Append("<h1>FastWs.LoadGen · ").Append(E(report.Scenario)).Append("</h1>");
        html.Append("<div class=\"meta\">").Append(E(report.Url)).Append(" · started ")
            .Append(E(report.StartedAt.ToString("u", Inv))).Append(" · finished ").Append(E(report.FinishedAt.ToString("u", Inv)));
        if (report.Partial)
        {
            html.Append(" · <b class=\"warn\">PARTIAL</b> (").Append(E(report.StopReason ?? "stopped early")).Append(')');
        }

        html.Append("</div>");
        if (report.FatalError is not null)
        {
            html.Append("<div class=\"fatal\">Fatal: ").Append(E(report.FatalError)).Append("</div>");
        }

        if (report.Thresholds.Count > 0)
        {
            html.Append("<h2>Thresholds</h2><table>");
            foreach (ThresholdResult t in report.Thresholds)
            {
                html.Append("<tr><td class=\"").Append(t.Passed ? "pass\">PASS" : "fail\">FAIL").Append("</td><td>")
                    .Append(E(t.Message[5..])).Append("</td></tr>");
            }

            html.Append("</table>");
        }

        html.Append("<h2>Summary</h2><table><tr><th>metric</th><th>value</th><th>key</th><th>note</th></tr>");
        foreach (Metric m in report.Metrics)
        {
            html.Append("<tr><td>").Append(E(m.Label)).Append("</td><td class=\"num\">").Append(E(Format.Value(m.Value, m.Kind)))
                .Append("</td><td class=\"key\">").Append(E(m.Key)).Append("</td><td class=\"meta\">").Append(E(m.Note ?? "")).Append("</td></tr>");
        }

        html.Append("</table>");

        foreach (string w in report.Warnings)
        {
            html.Append("<p class=\"warn\">⚠ ").Append(E(w)).Append("</p>");
        }

        if (report.Charts.Count > 0 && report.SeriesLength > 0)
        {
            html.Append("<h2>Over time</h2><p class=\"meta\">One point per second since t0");
            if (report.WarmupSeconds > 0)
            {
                html.Append("; the shaded band is the warm-up (not measured)");
            }

            html.Append(".</p>");
            foreach (ChartSpec chart in report.Charts)
            {
                AppendChart(html, report, chart);
            }
        }

        html.Append("<h2>Errors</h2>");
        if (report.Errors.Count == 0)
        {
            html.Append("<p>None.</p>");
        }
        else
        {
            html.Append("<table><tr><th>count</th><th>kind</th><th>example</th></tr>");
            foreach ((string kind, long count, string? example) in report.Errors)
            {
                html.Append("<tr><td class=\"num\">").Append(count.ToString("N0", Inv)).Append("</td><td>").Append(E(kind))
                    .Append("</td><td class=\"meta\">").Append(E(example ?? "")).Append("</td></tr>");
            }

            html.Append("</table>");
        }

        html.Append("<h2>Settings</h2><table>");
        foreach ((string name, string value) in report.Settings)
        {
            html.Append("<tr><td>").Append(E(name)).Append("</td><td>").Append(E(value)).Append("</td></tr>");
        }

        html.Append("</table><p class=\"meta\">Generated by FastWs.LoadGen. Machine-readable numbers: summary.json beside this file.</p></body></html>\n");
        return html.ToString();
    }

    private static void AppendChart(StringBuilder html, RunReport report, ChartSpec chart)
    {
        List<SeriesColumn> columns = chart.Columns
            .Select(key => report.Series.FirstOrDefault(s => s.Key == key))
            .Where(c => c is not null && c.Values.Any(v => v is not null))
            .Select(c => c!)
            .ToList();
        if (columns.Count == 0)
        {
            return;
        }

        int n = report.SeriesLength;
        double maxValue = columns.SelectMany(c => c.Values).Where(v => v is double d && double.IsFinite(d)).Max(v => v!.Value);
        double yMax = NiceCeiling(maxValue <= 0 ? 1 : maxValue * 1.05);
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double xMax = Math.Max(1, n);
        double X(double second) => Left + (second / xMax * plotW);
        double Y(double value) => Top + plotH - (Math.Min(value, yMax) / yMax * plotH);

        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{E(chart.Title)}\">");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"18\" font-size=\"14\" font-weight=\"600\">{E(chart.Title)}</text>");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right}\" y=\"18\" font-size=\"12\" text-anchor=\"end\" fill=\"#666\">{E(chart.Unit)}</text>");

        if (report.WarmupSeconds > 0)
        {
            double w = X(Math.Min(report.WarmupSeconds, xMax)) - Left;
            html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{F(w)}\" height=\"{F(plotH)}\" fill=\"#f2f2f2\"/>");
        }

        // Grid and axes.
        for (int i = 0; i <= 4; i++)
        {
            double v = yMax * i / 4;
            double y = Y(v);
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{Width - Right}\" y2=\"{F(y)}\" stroke=\"#e5e5e5\"/>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{F(y + 4)}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{E(Tick(v))}</text>");
        }

        int step = Math.Max(1, (int)NiceCeiling(xMax / 10));
        for (int s = 0; s <= n; s += step)
        {
            double x = X(s);
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(x)}\" y1=\"{Top + plotH}\" x2=\"{F(x)}\" y2=\"{Top + plotH + 4}\" stroke=\"#999\"/>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{Top + plotH + 16}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">{s}s</text>");
        }

        html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top + plotH}\" x2=\"{Width - Right}\" y2=\"{Top + plotH}\" stroke=\"#999\"/>");
        html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotH}\" stroke=\"#999\"/>");

        // Lines: one point per second at the middle of the second; gaps (no data) break the line.
        for (int c = 0; c < columns.Count; c++)
        {
            string color = Colors[c % Colors.Length];
            string dash = chart.Dashed.Contains(columns[c].Key) ? " stroke-dasharray=\"6 4\"" : "";
            var points = new StringBuilder();
            void Flush()
            {
                if (points.Length > 0)
                {
                    html.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{dash} points=\"{points}\"/>");
                    points.Clear();
                }
            }

            double?[] values = columns[c].Values;
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] is double v && double.IsFinite(v))
                {
                    points.Append(F(X(i + 0.5))).Append(',').Append(F(Y(v))).Append(' ');
                    html.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(i + 0.5))}\" cy=\"{F(Y(v))}\" r=\"2\" fill=\"{color}\"><title>{i}s: {E(Tick(v))}</title></circle>");
                }
                else
                {
                    Flush();
                }
            }

            Flush();
            double lx = Left + 8 + (c * 220);
            html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(lx)}\" y=\"{Height - 14}\" width=\"14\" height=\"4\" fill=\"{color}\"/>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(lx + 18)}\" y=\"{Height - 8}\" font-size=\"12\">{E(columns[c].Label)}</text>");
        }

        html.Append("</svg>");
    }

    private static double NiceCeiling(double value)
    {
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double m in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (m * magnitude >= value)
            {
                return m * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static string Tick(double v) => Math.Abs(v) switch
    {
        >= 1e6 => (v / 1e6).ToString("0.##", Inv) + "M",
        >= 1e4 => (v / 1e3).ToString("0.#", Inv) + "k",
        >= 100 => v.ToString("0", Inv),
        >= 1 => v.ToString("0.##", Inv),
        0 => "0",
        _ => v.ToString("0.###", Inv),
    };

    private static string F(double v) => v.ToString("0.#", Inv);

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
