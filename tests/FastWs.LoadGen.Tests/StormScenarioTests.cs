using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The <c>storm</c> scenario end to end, in process, against a real FastWs server with the market-data defaults: 200
/// FastWs.Client clients on <c>trades:</c> channels (history kept), every connection reset at once by the relay, the
/// clients back by their backoff. With full jitter they come back spread over the window, every stream gapless and
/// recovered (no reset); with the jitter off they come back in one burst, which the bound catches.
/// </summary>
public sealed class StormScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-storm-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        _server = await TestServer.StartAsync(options => options.Limits.MaxPublishesPerSecond = 0, marketDataDefaults: true);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_reports, recursive: true);
    }

    private static double Metric(JsonElement summary, string key) => summary.GetProperty("metrics").GetProperty(key).GetProperty("value").GetDouble();

    private async Task<(int ExitCode, JsonElement Summary)> RunAsync(string name, params string[] args)
    {
        (int exitCode, JsonElement? summary) = await ToolRun.RunAsync(_reports, name, ["storm", "-u", Server.WebSocketUri.ToString(), .. args]);
        return (exitCode, Assert.NotNull(summary));
    }

    [Fact]
    public async Task Clients_dropped_together_come_back_spread_over_the_window_with_every_stream_gapless()
    {
        long recoveriesBefore = Server.State.Metrics.Recoveries;
        // The bound is loosened for this shared 2-core machine (a stall of the process bunches timers); the burst below
        // still breaks it by far. perf runs show the 1.5 bound with 2,000 clients (tools/FastWs.LoadGen/README.md).
        (int exitCode, JsonElement summary) = await RunAsync("spread",
            "-n", "200", "--channels", "4", "--rate", "200", "--window", "4", "--duration", "5", "--warmup", "1",
            "--threshold", "peak_ratio<=2.5", "--threshold", "server_peak_ratio<=2.5");

        Assert.True(exitCode == 0, $"exit code {exitCode}: {summary}");
        Assert.Equal(200, Metric(summary, "clients"));
        Assert.Equal(200, Metric(summary, "drops"));
        Assert.Equal(200, Metric(summary, "reconnects"));
        Assert.Equal(0, Metric(summary, "not_reconnected"));
        Assert.Equal(0, Metric(summary, "gaps"));
        Assert.Equal(0, Metric(summary, "duplicates"));
        Assert.Equal(0, Metric(summary, "resets"));
        Assert.Equal(0, Metric(summary, "behind_at_end"));
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.Equal(200, Server.State.Metrics.Recoveries - recoveriesBefore); // each stream recovered from history with since
        Assert.Equal(200, Metric(summary, "server_recoveries"));
        Assert.True(Metric(summary, "received") > 0);

        // Spread: several seconds carry reconnects, none most of them, and the first come well before the last.
        double[] perSecond = [.. summary.GetProperty("timeSeries").GetProperty("handshakes").EnumerateArray().Select(v => v.GetDouble())];
        Assert.Equal(200, perSecond.Sum());
        Assert.True(perSecond.Count(n => n > 0) >= 3, "handshakes/s: " + string.Join(" ", perSecond));
        Assert.True(perSecond.Max() <= 100, "handshakes/s: " + string.Join(" ", perSecond));
        Assert.True(Metric(summary, "reconnect_last_s") - Metric(summary, "reconnect_first_s") >= 2, "reconnects spread over the 4 s window");
        Assert.InRange(Metric(summary, "peak_ratio"), 0.5, 2.5);
        Assert.InRange(Metric(summary, "server_peak_ratio"), 0.3, 2.5);
    }

    [Fact]
    public async Task Without_jitter_the_clients_come_back_in_one_burst_and_the_bound_fails_the_run()
    {
        (int exitCode, JsonElement summary) = await RunAsync("burst",
            "-n", "200", "--channels", "4", "--rate", "200", "--window", "4", "--duration", "4", "--warmup", "1", "--jitter", "off");

        Assert.Equal(2, exitCode); // a threshold missed: the built-in peak_ratio<=1.5
        Assert.Equal(200, Metric(summary, "reconnects"));
        Assert.True(Metric(summary, "peak_ratio") > 2.5, $"peak_ratio {Metric(summary, "peak_ratio")}");
        Assert.Contains(summary.GetProperty("thresholds").EnumerateArray(), t => t.GetProperty("metric").GetString() == "peak_ratio" && !t.GetProperty("passed").GetBoolean());
        Assert.Equal(0, Metric(summary, "gaps")); // a burst is still gapless: only the server's load differs
        Assert.Equal(0, Metric(summary, "resets"));
    }

    [Theory]
    [InlineData("--window", "0.5")]
    [InlineData("--duration", "3")]
    [InlineData("--channels-per-client", "9")]
    [InlineData("--token", "abc")]
    public async Task Bad_arguments_exit_with_code_1_before_any_connection(string option, string value)
    {
        long before = Server.State.Metrics.ConnectionsTotal;
        (int exitCode, JsonElement? summary) = await ToolRun.RunAsync(_reports, "bad", ["storm", "-u", Server.WebSocketUri.ToString(), "--channels", "4", option, value]);
        Assert.Equal(1, exitCode);
        Assert.Null(summary);
        Assert.Equal(before, Server.State.Metrics.ConnectionsTotal);
    }
}
