using FastWs.LoadGen.Tests.TestSupport;
using System.Diagnostics;
using System.Text.Json.Nodes;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// perf/compare/compare.js's issue-17 tables, rendered with <c>--render</c> from hand-made results: the "Inline vs
/// envelope" table (inline ÷ envelope CPU per delivery, PASS at ≤ 1.05) and the "Conflation" table (probe p99 &lt; 10 ms,
/// no value backwards), and issue 20's "Compression" (wire bytes, CPU ≤ 1/3 of the better peer, p99 below each) and
/// "Write coalescing" (CPU ≤ 0.5 × uWS.js, p99 ≤ FastWs's own + 2 ms) tables. Needs Node.js; fails without it.
/// </summary>
public sealed class ComparisonRenderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fastws-render17-" + Guid.NewGuid().ToString("N"));

    public ComparisonRenderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonObject Fanout(double cpu, double ratio = 1.0) => new()
    {
        ["ok"] = true, ["delivered"] = 99_900, ["ratio"] = ratio, ["received"] = ratio < 1 ? 900 : 1000, ["expected"] = 1000,
        ["publishRate"] = 1000, ["targetRate"] = 1000, ["p50"] = 1.2, ["p99"] = 3.4, ["p999"] = 5.6, ["max"] = 7.0,
        ["cpuPer1k"] = cpu, ["userPer1k"] = cpu / 3, ["sysPer1k"] = cpu * 2 / 3, ["serverCpuPct"] = 20, ["rss"] = 80_000_000,
        ["toolCpu"] = 30, ["errors"] = 0, ["lagMs"] = 2, ["notes"] = new JsonArray(),
    };

    private static JsonObject Conflation(double probeP99, double backwards) => new()
    {
        ["ok"] = true, ["publishRate"] = 50_000, ["targetRate"] = 50_000, ["delivered"] = 21_000, ["conflationRatio"] = 0.042,
        ["perSubscription"] = 2.1, ["cpuPer1kPublished"] = 8917, ["cpuPer1k"] = 20_581, ["userPer1k"] = 7476, ["sysPer1k"] = 13_106,
        ["serverCpuPct"] = 44.6, ["rss"] = 90_000_000, ["workingSet"] = 90_000_000, ["waitingMax"] = 962, ["statsConflated"] = 472_945,
        ["p50"] = 1.19, ["p99"] = probeP99, ["probeMax"] = 19.7, ["probeRatio"] = 1, ["conflatedP50"] = 11.8, ["conflatedP99"] = 357.6,
        ["backwards"] = backwards, ["repeats"] = 0, ["staleAtEnd"] = 0, ["toolCpu"] = 31, ["errors"] = 0, ["lagMs"] = 14.5, ["notes"] = new JsonArray(),
    };

    private async Task<string[]> RenderAsync(JsonArray servers, JsonArray workloads, JsonObject results)
    {
        var saved = new JsonObject
        {
            ["options"] = new JsonObject
            {
                ["quick"] = false, ["servers"] = servers, ["workloads"] = workloads, ["duration"] = 20, ["warmup"] = 5, ["tls"] = false,
                ["probeDuration"] = 5, ["searchBudget"] = 240, ["connections"] = 10000, ["hold"] = 5, ["repeat"] = 1, ["grace"] = 2,
                ["probeWarmup"] = 2, ["ladder"] = new JsonArray(2000, 5000), ["resolution"] = 1.1,
            },
            ["machine"] = new JsonObject { ["cpu"] = "test", ["nproc"] = "2", ["kernel"] = "k", ["dotnet"] = "d", ["node"] = "n", ["git"] = "g", ["load"] = "0", ["mem"] = "1 GiB" },
            ["cmdline"] = "test", ["startedAt"] = "2026-12-07T00:00:00.000Z", ["pin"] = true, ["finished"] = true, ["minutes"] = 1, ["resultsDir"] = _dir,
            ["results"] = results,
        };
        await File.WriteAllTextAsync(Path.Combine(_dir, "results.json"), saved.ToJsonString());
        string output = Path.Combine(_dir, "out.md");
        var start = new ProcessStartInfo("node", ["perf/compare/compare.js", "--render", _dir, "--output", output])
        {
            WorkingDirectory = Repository.Root(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process render = Process.Start(start)!;
        Task<string> stdout = render.StandardOutput.ReadToEndAsync();
        Task<string> stderr = render.StandardError.ReadToEndAsync();
        await render.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(render.ExitCode == 0, $"render failed: {await stderr}{await stdout}");
        return await File.ReadAllLinesAsync(output);
    }

    private static List<string> Rows(string[] lines, string heading)
    {
        int start = Array.FindIndex(lines, l => l.Trim() == heading);
        Assert.True(start >= 0, $"no '{heading}' section");
        return lines.Skip(start + 1).TakeWhile(l => !l.StartsWith('#')).Where(l => l.StartsWith('|')).Skip(2).ToList();
    }

    private static string[] Cells(string row) => row.Trim('|').Split(" | ").Select(c => c.Trim()).ToArray();

    [Fact]
    public async Task Inline_vs_envelope_shows_the_cpu_ratio_with_a_verdict_at_1_05()
    {
        Repository.RequireNode();

        string[] md = await RenderAsync(
            ["fastws", "fastws-inline"],
            ["a", "c"],
            new JsonObject
            {
                ["fastws"] = new JsonObject { ["a"] = Fanout(2000), ["c"] = Fanout(9000) },
                ["fastws-inline"] = new JsonObject { ["a"] = Fanout(2080), ["c"] = Fanout(9990, ratio: 0.9) },
            });

        List<string> rows = Rows(md, "## Inline vs envelope (issue 17)");
        Assert.Equal(2, rows.Count);
        string[] a = Cells(rows[0]);
        Assert.StartsWith("(a)", a[0], StringComparison.Ordinal);
        Assert.Equal("2,000", a[1]);
        Assert.Equal("2,080", a[3]);
        Assert.Equal("1.040", a[5]);
        Assert.Equal("≤ 1.05", a[6]);
        Assert.Equal("PASS", a[7]);
        string[] c = Cells(rows[1]);
        Assert.Equal("1.110", c[5]);
        Assert.Equal("MISS (inline lost messages)", c[7]);

        // Both servers are rows of the Results table too; the Targets stay issue 5's, for fastws.
        Assert.Contains(Rows(md, "## Results"), r => Cells(r)[1] == "FastWs inline");
        Assert.Contains(md, l => l.Trim() == "## Targets (issue 5)");
        Assert.DoesNotContain(md, l => l.Trim() == "## Conflation (issue 17)");
    }

    [Fact]
    public async Task The_conflation_workload_gets_its_own_table_and_no_targets_section()
    {
        Repository.RequireNode();

        string[] md = await RenderAsync(["fastws"], ["f-conflation"], new JsonObject { ["fastws"] = new JsonObject { ["f-conflation"] = Conflation(6.2, 0) } });
        string[] row = Cells(Assert.Single(Rows(md, "## Conflation (issue 17)")));
        Assert.StartsWith("(f-conflation)", row[0], StringComparison.Ordinal);
        Assert.Equal("50,000", row[1]);
        Assert.Equal("21,000", row[2]);
        Assert.Equal("0.0420", row[3]);
        Assert.Equal("8,917", row[4]);
        Assert.Equal("962", row[8]);
        Assert.Equal("1.19 / 6.20", row[9]);
        Assert.Equal("PASS", row[11]);
        Assert.Equal("0 / 0 / 0", row[13]);
        Assert.DoesNotContain(md, l => l.StartsWith("## Targets", StringComparison.Ordinal));
        Assert.DoesNotContain(md, l => l.Trim() == "## Results");

        md = await RenderAsync(["fastws"], ["f-conflation"], new JsonObject { ["fastws"] = new JsonObject { ["f-conflation"] = Conflation(6.2, 3) } });
        Assert.Equal("MISS (3 value(s) backwards/repeated)", Cells(Assert.Single(Rows(md, "## Conflation (issue 17)")))[11]);
        md = await RenderAsync(["fastws"], ["f-conflation"], new JsonObject { ["fastws"] = new JsonObject { ["f-conflation"] = Conflation(12.5, 0) } });
        Assert.Equal("MISS", Cells(Assert.Single(Rows(md, "## Conflation (issue 17)")))[11]);
    }

    private static JsonObject Deflated(double cpu, double p99, double wire)
    {
        JsonObject row = Fanout(cpu);
        row["p99"] = p99;
        row["wireBytes"] = wire;
        row["deflated"] = 100;
        row["subscribers"] = 100;
        return row;
    }

    [Fact]
    public async Task Compression_shows_wire_bytes_and_judges_cpu_against_the_better_peer_and_p99_against_each()
    {
        Repository.RequireNode();
        var results = new JsonObject
        {
            ["fastws"] = new JsonObject { ["f"] = Deflated(1000, 3.0, 416), ["g"] = Deflated(2000, 6.0, 416) },
            ["uws"] = new JsonObject { ["f"] = Deflated(4000, 5.0, 408), ["g"] = Deflated(4000, 5.0, 408) },
            ["node-ws"] = new JsonObject { ["f"] = Deflated(5000, 9.0, 408), ["g"] = Deflated(9000, 9.0, 408) },
        };

        List<string> rows = Rows(await RenderAsync(["fastws", "node-ws", "uws"], ["f", "g"], results), "## Compression (issue 20)");

        string[] fastF = Cells(rows.Single(r => r.Contains("(f)", StringComparison.Ordinal) && r.Contains("| FastWs ", StringComparison.Ordinal)));
        Assert.Equal("416", fastF[7]);
        Assert.Equal("100 / 100", fastF[8]);
        string[] cpuF = Cells(rows.Single(r => r.StartsWith("| CPU/1k msgs vs better peer | f", StringComparison.Ordinal)));
        Assert.Equal(["uWS.js", "4,000", "0.25", "≤ 0.33", "PASS"], cpuF[3..]);
        string[] cpuG = Cells(rows.Single(r => r.StartsWith("| CPU/1k msgs vs better peer | g", StringComparison.Ordinal)));
        Assert.Equal(["0.50", "≤ 0.33", "MISS"], cpuG[5..]);
        Assert.Equal("PASS", Cells(rows.Single(r => r.StartsWith("| p99 vs uWS.js", StringComparison.Ordinal) && r.Contains("| f ", StringComparison.Ordinal)))[7]);
        Assert.Equal("MISS", Cells(rows.Single(r => r.StartsWith("| p99 vs uWS.js", StringComparison.Ordinal) && r.Contains("| g ", StringComparison.Ordinal)))[7]);
        Assert.Equal("PASS", Cells(rows.Single(r => r.StartsWith("| p99 vs Node ws", StringComparison.Ordinal) && r.Contains("| g ", StringComparison.Ordinal)))[7]);
    }

    [Theory]
    [InlineData(5.0, "PASS")]
    [InlineData(5.6, "MISS")]
    public async Task Write_coalescing_is_judged_against_half_of_uws_cpu_and_fastws_p99_plus_2_ms(double coalescedP99, string p99Verdict)
    {
        Repository.RequireNode();
        JsonObject coalesced = Fanout(1000);
        coalesced["p99"] = coalescedP99;
        var results = new JsonObject
        {
            ["fastws"] = new JsonObject { ["a"] = Fanout(2000) },
            ["fastws-coalesce"] = new JsonObject { ["a"] = coalesced },
            ["uws"] = new JsonObject { ["a"] = Fanout(2500) },
        };

        List<string> rows = Rows(await RenderAsync(["fastws", "fastws-coalesce", "uws"], ["a"], results), "## Write coalescing (issue 20)");

        Assert.Equal(["0.40", "≤ 0.50", "PASS"], Cells(rows.Single(r => r.StartsWith("| CPU/1k msgs vs uWS.js", StringComparison.Ordinal)))[7..]);
        Assert.Equal("0.50", Cells(rows.Single(r => r.StartsWith("| CPU/1k msgs vs FastWs without", StringComparison.Ordinal)))[7]);
        string[] p99 = Cells(rows.Single(r => r.StartsWith("| p99 vs FastWs without", StringComparison.Ordinal)));
        Assert.Equal(p99Verdict, p99[9]);
    }
}
