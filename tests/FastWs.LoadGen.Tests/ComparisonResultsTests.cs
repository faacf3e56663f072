using FastWs.LoadGen.Tests.TestSupport;
using System.Diagnostics;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// perf/RESULTS.md quotes the comparison's own output: re-rendering the committed results.json of the run it
/// quotes (perf/compare/runs/) must give, row for row, the Results and Targets tables the file shows. This ties
/// the published numbers to the raw data and to the verdict rules in perf/compare/compare.js.
/// </summary>
public sealed class ComparisonResultsTests
{
    /// <summary>The run perf/RESULTS.md's "The run" section quotes; update it together with that section.</summary>
    private const string QuotedRun = "2026-12-07T01-36-30Z";

    /// <summary>The table rows (lines starting with '|') of the section that starts with <paramref name="heading"/>, up to the next heading.</summary>
    private static List<string> TableRows(string[] lines, string heading)
    {
        int start = Array.FindIndex(lines, l => l.Trim() == heading);
        Assert.True(start >= 0, $"no '{heading}' section");
        return lines.Skip(start + 1).TakeWhile(l => !l.StartsWith('#')).Where(l => l.StartsWith('|')).ToList();
    }

    [Fact]
    public async Task The_tables_in_RESULTS_md_are_the_comparison_output_of_the_quoted_run()
    {
        Repository.RequireNode();

        string root = Repository.Root();
        string output = Path.Combine(Path.GetTempPath(), "fastws-render-" + Guid.NewGuid().ToString("N") + ".md");
        try
        {
            var start = new ProcessStartInfo("bash", ["perf/compare/run.sh", "--render", Path.Combine("perf", "compare", "runs", QuotedRun), "--output", output])
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using Process render = Process.Start(start)!;
            Task<string> stdout = render.StandardOutput.ReadToEndAsync();
            Task<string> stderr = render.StandardError.ReadToEndAsync();
            await render.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(render.ExitCode == 0, $"render failed: {await stderr}{await stdout}");

            string[] rendered = await File.ReadAllLinesAsync(output);
            string[] published = await File.ReadAllLinesAsync(Path.Combine(root, "perf", "RESULTS.md"));
            Assert.Equal(TableRows(rendered, "## Results"), TableRows(published, "### Results"));
            Assert.Equal(TableRows(rendered, "## Targets (issue 5)"), TableRows(published, "### Targets (issue 5)"));
            Assert.Contains(published, l => l.Contains($"perf/compare/out/{QuotedRun}", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(output);
        }
    }
}
