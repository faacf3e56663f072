using System.Text;

namespace FastWs.LoadGen.Reporting;

/// <summary>The stdout summary: scenario, settings, a metrics table, errors, warnings and threshold verdicts.</summary>
internal static class TextReport
{
    public static string Render(RunReport report)
    {
        var text = new StringBuilder();
        string rule = new('─', 78);
        text.AppendLine(rule);
        text.Append("FastWs.LoadGen · scenario ").Append(report.Scenario).Append(" · ").AppendLine(report.Url);
        text.Append("started ").Append(report.StartedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture))
            .Append(report.Partial ? "  · PARTIAL (" + (report.StopReason ?? "stopped early") + ")" : "").AppendLine();
        if (report.FatalError is not null)
        {
            text.Append("FATAL: ").AppendLine(report.FatalError);
        }

        text.AppendLine(rule);
        text.AppendLine("settings");
        foreach ((string name, string value) in report.Settings)
        {
            text.Append("  ").Append(name.PadRight(34)).AppendLine(value);
        }

        text.AppendLine();
        text.Append("  ").Append("metric".PadRight(52)).Append("value".PadLeft(16)).Append("  ").AppendLine("key");
        text.Append("  ").AppendLine(new string('-', 80));
        foreach (Metric m in report.Metrics)
        {
            string value = Format.Value(m.Value, m.Kind);
            text.Append("  ").Append(Truncate(m.Label, 52).PadRight(52)).Append(value.PadLeft(16)).Append("  ").Append(m.Key);
            if (m.Note is not null)
            {
                text.Append("  (").Append(m.Note).Append(')');
            }

            text.AppendLine();
        }

        if (report.Errors.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("errors by kind");
            foreach ((string kind, long count, string? example) in report.Errors)
            {
                text.Append("  ").Append(count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture).PadLeft(10)).Append("  ").Append(kind);
                if (example is not null && example != kind)
                {
                    text.Append("  e.g. ").Append(Truncate(example.ReplaceLineEndings(" "), 100));
                }

                text.AppendLine();
            }
        }

        foreach (string warning in report.Warnings)
        {
            text.Append("warning: ").AppendLine(warning);
        }

        if (report.Thresholds.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("thresholds");
            foreach (ThresholdResult t in report.Thresholds)
            {
                text.Append("  ").AppendLine(t.Message);
            }
        }

        text.AppendLine(rule);
        return text.ToString();
    }

    private static string Truncate(string s, int length) => s.Length <= length ? s : s[..(length - 1)] + "…";
}
