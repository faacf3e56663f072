using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// Every scenario of the load tool run end to end, in this process, against a real FastWs server on an
/// ephemeral loopback port: small counts and a second or two each, checked through the exit code and the
/// summary.json a pipeline would read.
/// </summary>
public sealed class ScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-tests-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    private string Url => Server.WebSocketUri.ToString();

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        _server = await TestServer.StartAsync(options => options.Limits.MaxPublishesPerSecond = 0);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_reports, recursive: true);
    }

    private Task<(int ExitCode, JsonElement? Summary)> RunAsync(string name, params string[] args) => ToolRun.RunAsync(_reports, name, args);

    /// <summary>Runs the tool, expects <paramref name="exitCode"/> and a written summary.json, and returns the summary.</summary>
    private async Task<JsonElement> RunExpectingAsync(int exitCode, string name, params string[] args)
    {
        (int actual, JsonElement? summary) = await RunAsync(name, args);
        Assert.Equal(exitCode, actual);
        return Assert.NotNull(summary);
    }

    private static double Metric(JsonElement summary, string key) => summary.GetProperty("metrics").GetProperty(key).GetProperty("value").GetDouble();

    private static string Setting(JsonElement summary, string name) => summary.GetProperty("settings").GetProperty(name).GetString()!;

    /// <summary>Every delivery the healthy subscribers were owed in the window arrived.</summary>
    private static void AssertDeliveredAll(JsonElement summary)
    {
        Assert.True(Metric(summary, "expected") > 0);
        Assert.Equal(Metric(summary, "expected"), Metric(summary, "received"));
        Assert.Equal(1.0, Metric(summary, "ratio"));
    }

    private static void AssertNoErrors(JsonElement summary)
    {
        Assert.Equal(0, summary.GetProperty("errors").GetArrayLength());
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.False(summary.GetProperty("partial").GetBoolean());
    }

    [Fact]
    public async Task Fanout_delivers_everything_and_passes_its_thresholds()
    {
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "fanout",
            "fanout", "-u", Url, "-s", "20", "-c", "2", "-r", "200", "--warmup", "0.5", "--duration", "1.5",
            "--server-pid", pid, "--threshold", "ratio>=1", "--threshold", "errors==0", "--threshold", "p99<5s");

        Assert.Equal("fanout", summary.GetProperty("scenario").GetString());
        AssertNoErrors(summary);
        AssertDeliveredAll(summary);
        Assert.Equal(0, Metric(summary, "seq_gaps"));
        Assert.Equal(0, Metric(summary, "seq_backwards"));
        Assert.InRange(Metric(summary, "p50"), 0, Metric(summary, "p99"));
        Assert.InRange(Metric(summary, "p99"), 0, Metric(summary, "max"));
        // Coordinated-omission-corrected percentiles beside the raw ones: never below them (correction only adds samples).
        Assert.InRange(Metric(summary, "p99_co"), Metric(summary, "p99"), Metric(summary, "max"));
        Assert.True(Metric(summary, "p999_co") >= Metric(summary, "p999"));
        Assert.True(Metric(summary, "co_added") >= 0);
        Assert.Contains("expected interval 10 ms", summary.GetProperty("metrics").GetProperty("p99_co").GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.True(Metric(summary, "server_cpu_s") > 0, "the server (this process) was sampled from /proc");
        Assert.Equal("16384", Setting(summary, "receive buffer (bytes per connection)"));
        Assert.True(summary.GetProperty("thresholdsPassed").GetBoolean());
        Assert.Equal(3, summary.GetProperty("thresholds").GetArrayLength());
        Assert.True(summary.GetProperty("timeSeries").GetProperty("p99_ms").GetArrayLength() >= 2);
        Assert.True(File.Exists(Path.Combine(_reports, "fanout", "report.html")));

        // latency.hlog beside them, readable by HdrHistogram's reader: the window's histogram holds every in-window delivery.
        using var hlog = new HdrHistogram.HistogramLogReader(File.OpenRead(Path.Combine(_reports, "fanout", "latency.hlog")));
        HdrHistogram.HistogramBase[] logged = [.. hlog.ReadHistograms()];
        Assert.Equal(Metric(summary, "received"), Assert.Single(logged, h => h.Tag == "window").TotalCount);
        Assert.Contains(logged, h => string.IsNullOrEmpty(h.Tag) && h.TotalCount > 0);
    }

    [Fact]
    public async Task Fanout_with_deflate_and_price_objects_negotiates_inflates_and_counts_the_compressed_bytes()
    {
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "fanout-deflate",
            "fanout", "-u", Url, "-s", "10", "-r", "100", "--warmup", "0.5", "--duration", "1", "--deflate", "--payload-kind", "price");

        AssertNoErrors(summary);
        AssertDeliveredAll(summary);
        Assert.Equal(10, Metric(summary, "deflate_negotiated"));
        Assert.Equal("yes", Setting(summary, "permessage-deflate offered"));
        // ~1.1 KB of data per message in a ~1.2 KB frame plain; compressed, well under half of that on the wire.
        double dataBytes = double.Parse(Setting(summary, "data bytes per message"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(dataBytes, 900, 1300);
        Assert.InRange(Metric(summary, "wire_bytes_per_delivery"), 100, dataBytes / 2);

        // The same run without --deflate: the frames go plain, and the wire carries the whole message.
        JsonElement plain = await RunExpectingAsync(Program.ExitOk, "fanout-plain", "fanout", "-u", Url, "-s", "10", "-r", "100", "--warmup", "0.5", "--duration", "1", "--payload-kind", "price");
        AssertDeliveredAll(plain);
        Assert.False(plain.GetProperty("metrics").TryGetProperty("deflate_negotiated", out _));
        Assert.True(Metric(plain, "wire_bytes_per_delivery") > dataBytes);
    }

    [Fact]
    public async Task A_missed_threshold_exits_with_code_2_and_says_which()
    {
        JsonElement summary = await RunExpectingAsync(
            Program.ExitThreshold,
            "missed",
            "fanout", "-u", Url, "-s", "5", "-r", "100", "--warmup", "0.3", "--duration", "1", "--threshold", "p99<1ns", "--threshold", "ratio>=1");

        Assert.False(summary.GetProperty("thresholdsPassed").GetBoolean());
        JsonElement[] rules = [.. summary.GetProperty("thresholds").EnumerateArray()];
        Assert.False(rules.Single(r => r.GetProperty("expression").GetString() == "p99<1ns").GetProperty("passed").GetBoolean());
        Assert.True(rules.Single(r => r.GetProperty("expression").GetString() == "ratio>=1").GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task Connect_opens_holds_and_closes_every_connection()
    {
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "connect", "connect", "-u", Url, "-n", "40", "--hold", "0.5", "--server-pid", pid);

        AssertNoErrors(summary);
        Assert.Equal(40, Metric(summary, "connections"));
        Assert.Equal(0, Metric(summary, "failed"));
        Assert.Equal(40, Metric(summary, "alive_after_hold"));
        Assert.True(Metric(summary, "handshakes") > 0);
        // /proc counts CPU time in ticks of 10 ms, and 40 loopback handshakes can cost less than one tick: the
        // per-handshake figure is the ramp's CPU over the connections, which may be 0 here.
        double rampCpu = Metric(summary, "server_cpu_ramp_s");
        Assert.True(rampCpu >= 0);
        Assert.True(Metric(summary, "server_rss_before") > 0, "the server (this process) was sampled from /proc");
        Assert.Equal(rampCpu * 1e6 / 40, Metric(summary, "server_cpu_us_per_handshake"), 3);
        Assert.Equal("2048", Setting(summary, "receive buffer (bytes per connection)"));
        await TestServer.WaitUntilAsync(() => Server.State.Connections.Count == 0, "the server to see every connection closed");
    }

    [Fact]
    public async Task An_explicit_receive_buffer_overrides_the_scenario_default()
    {
        JsonElement summary = await RunExpectingAsync(Program.ExitOk, "connect-buffer", "connect", "-u", Url, "-n", "5", "--hold", "0", "--recv-buffer", "8192");

        Assert.Equal("8192", Setting(summary, "receive buffer (bytes per connection)"));
    }

    [Fact]
    public async Task Churn_cycles_without_failures()
    {
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "churn", "churn", "-u", Url, "-k", "4", "--warmup", "0.2", "--duration", "1");

        AssertNoErrors(summary);
        Assert.True(Metric(summary, "cycles") > 0);
        Assert.Equal(0, Metric(summary, "failed_cycles"));
        Assert.Equal("4096", Setting(summary, "receive buffer (bytes per connection)"));
        await TestServer.WaitUntilAsync(() => Server.State.Connections.Count == 0, "the server to see every churned connection closed");
    }

    [Fact]
    public async Task Slow_keeps_the_healthy_subscribers_whole()
    {
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "slow",
            "slow", "-u", Url, "-s", "20", "-r", "200", "--payload", "4000", "--slow-share", "0.25", "--warmup", "0.5", "--duration", "1.5", "--threshold", "ratio>=1");

        // 4 KB messages at 200/s are ~1.2 MB per subscriber in the window: far more than the slow ones' small socket
        // buffers and the server's 64 KB limit, so the server skips them while the healthy ones get everything.
        Assert.Equal(5, Metric(summary, "slow_subscribers"));
        AssertDeliveredAll(summary);
        Assert.InRange(Metric(summary, "slow_ratio"), 0, 0.5);
        Assert.True(Server.State.Metrics.MessagesSkipped > 0, "the server skipped messages for the slow subscribers");
    }

    [Fact]
    public async Task A_run_cut_short_by_max_run_time_exits_with_code_3_and_a_partial_report()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        JsonElement summary = await RunExpectingAsync(
            Program.ExitPartial,
            "cut-short",
            "fanout", "-u", Url, "-s", "5", "-r", "100", "--warmup", "0.5", "--duration", "60", "--max-run-time", "2");

        Assert.True(summary.GetProperty("partial").GetBoolean());
        Assert.False(string.IsNullOrEmpty(summary.GetProperty("stopReason").GetString()));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"stopped after {watch.Elapsed.TotalSeconds:F1} s, not near the 2 s limit");
        await TestServer.WaitUntilAsync(() => Server.State.Connections.Count == 0, "the server to see the cut-short run's connections closed");
    }

    [Theory]
    [InlineData("fanout", "-u", "ws://10.1.2.3:80/ws")]
    [InlineData("fanout", "-u", "ws://example.com/ws")]
    [InlineData("fanout", "-s", "0")]
    [InlineData("fanout", "--threshold", "latency<10ms")]
    [InlineData("connect", "-n", "0")]
    [InlineData("slow", "--slow-share", "1.5")]
    public async Task Bad_arguments_exit_with_code_1_before_any_traffic(params string[] args)
    {
        int connectionsBefore = Server.State.Connections.Count;
        (int exitCode, JsonElement? summary) = await RunAsync("bad", [.. args.Contains("-u") ? args : [.. args, "-u", Url]]);

        Assert.Equal(Program.ExitFatal, exitCode);
        Assert.Null(summary);
        Assert.Equal(connectionsBefore, Server.State.Connections.Count);
    }

    [Fact]
    public async Task No_server_listening_is_a_fatal_error_not_a_hang()
    {
        // A loopback port nothing listens on: taken from a socket that is then closed.
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        (int exitCode, _) = await RunAsync("refused", "connect", "-u", $"ws://127.0.0.1:{port}/ws", "-n", "3", "--hold", "0");

        Assert.Equal(Program.ExitFatal, exitCode);
    }
}
