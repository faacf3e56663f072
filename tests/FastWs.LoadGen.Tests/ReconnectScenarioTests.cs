using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The <c>reconnect</c> scenario end to end, in process, against a real FastWs server with the market-data defaults
/// (<c>trades</c>: inline format, a history of 1,000 messages for 5 minutes): subscribers drop their connections
/// without a close frame several times each while a publisher runs, resubscribe with <c>since</c>, and must see every
/// message exactly once, in order.
/// </summary>
public sealed class ReconnectScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-reconnect-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    private string Url => Server.WebSocketUri.ToString();

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
        (int exitCode, JsonElement? summary) = await ToolRun.RunAsync(_reports, name, ["reconnect", "-u", Url, .. args]);
        return (exitCode, Assert.NotNull(summary));
    }

    [Fact]
    public async Task Subscribers_that_drop_and_resubscribe_with_since_recover_every_message_without_gaps_or_duplicates()
    {
        string pid = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        (int exitCode, JsonElement summary) = await RunAsync(
            "trades",
            "-s", "4", "-c", "2", "-k", "2", "-r", "400", "--warmup", "0.5", "--duration", "3",
            "--drop-min", "0.2", "--drop-max", "0.5", "--offline", "0.05", "--server-pid", pid);

        Assert.Equal(Program.ExitOk, exitCode);
        Assert.Equal("reconnect", summary.GetProperty("scenario").GetString());
        Assert.False(summary.GetProperty("partial").GetBoolean());
        Assert.Equal(0, summary.GetProperty("errors").GetArrayLength());

        // Several drops per subscriber (3.5 s of holds of 0.2-0.5 s plus 0.05 s away), each followed by a reconnect.
        Assert.Equal(4, Metric(summary, "subscribers"));
        Assert.True(Metric(summary, "drops") >= 4 * 3, $"drops = {Metric(summary, "drops")}");
        Assert.Equal(Metric(summary, "drops"), Metric(summary, "reconnects"));
        Assert.Equal(0, Metric(summary, "reconnect_failed"));
        Assert.Equal(0, Metric(summary, "connections_lost"));

        // Every channel of every reconnect recovered (the history reaches far back), with messages replayed.
        Assert.True(Metric(summary, "recovered") > 0, "messages were replayed");
        Assert.Equal(Metric(summary, "reconnects") * 2, Metric(summary, "recoveries"));
        Assert.Equal(0, Metric(summary, "recovery_failures"));
        Assert.Equal(0, Metric(summary, "snapshots"));
        Assert.True(Metric(summary, "recovered") <= Server.State.Metrics.MessagesReplayed, "the tool saw no more replayed messages than the server sent");

        Assert.Equal(0, Metric(summary, "gaps"));
        Assert.Equal(0, Metric(summary, "gap_notices"));
        Assert.Equal(0, Metric(summary, "missing"));
        Assert.Equal(0, Metric(summary, "duplicates"));
        Assert.Equal(0, Metric(summary, "out_of_order"));
        Assert.Equal(0, Metric(summary, "behind_at_end"));

        // Every subscriber got every message published to its two channels once: 400/s for 3.5 s, all to each.
        double published = Server.State.Metrics.Published;
        Assert.True(published > 0);
        Assert.Equal(published * 4, Metric(summary, "received"), 0);

        Assert.InRange(Metric(summary, "p50"), 0, Metric(summary, "p99"));
        Assert.InRange(Metric(summary, "reconnect_p50"), 0, Metric(summary, "reconnect_max"));

        // The built-in rules: no gap, duplicate, out-of-order message or stream left behind.
        Assert.True(summary.GetProperty("thresholdsPassed").GetBoolean());
        string[] rules = [.. summary.GetProperty("thresholds").EnumerateArray().Select(t => t.GetProperty("expression").GetString()!)];
        Assert.Equal(["gaps==0", "duplicates==0", "out_of_order==0", "behind_at_end==0"], rules);
        Assert.True(summary.GetProperty("timeSeries").GetProperty("reconnects").GetArrayLength() >= 3);
        await TestServer.WaitUntilAsync(() => Server.State.Connections.Count == 0, "the server to see every connection gone");
    }

    [Fact]
    public async Task Without_history_every_resubscribe_is_a_recovery_failure_but_not_a_gap()
    {
        // bench keeps nothing: since can never be served, the server says notRecovered and the stream restarts at the
        // position it gives; what was published meanwhile is lost by design, not a gap.
        (int exitCode, JsonElement summary) = await RunAsync(
            "bench",
            "--channel-prefix", "bench:", "-s", "3", "-c", "1", "-k", "1", "-r", "200", "--warmup", "0.2", "--duration", "1.5",
            "--drop-min", "0.2", "--drop-max", "0.4", "--offline", "0.05");

        Assert.Equal(Program.ExitOk, exitCode);
        Assert.True(Metric(summary, "reconnects") > 0);
        Assert.Equal(Metric(summary, "reconnects"), Metric(summary, "recovery_failures"));
        Assert.Equal(0, Metric(summary, "recovered"));
        Assert.Equal(0, Metric(summary, "gaps"));
        Assert.Equal(0, Metric(summary, "duplicates"));
        Assert.Equal(0, Metric(summary, "out_of_order"));
        Assert.Contains(summary.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.StartsWith("no recovery succeeded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_rule_given_on_the_command_line_replaces_the_built_in_one_for_that_metric()
    {
        (int exitCode, JsonElement summary) = await RunAsync(
            "override",
            "-s", "2", "-c", "1", "-k", "1", "-r", "100", "--warmup", "0.2", "--duration", "1", "--drop-min", "0.3", "--drop-max", "0.4",
            "--threshold", "gaps>=1");

        Assert.Equal(Program.ExitThreshold, exitCode);
        JsonElement[] rules = [.. summary.GetProperty("thresholds").EnumerateArray()];
        Assert.Equal(["gaps>=1", "duplicates==0", "out_of_order==0", "behind_at_end==0"], rules.Select(r => r.GetProperty("expression").GetString()));
        Assert.False(rules[0].GetProperty("passed").GetBoolean());
        Assert.True(rules[1..].All(r => r.GetProperty("passed").GetBoolean()));
    }

    [Theory]
    [InlineData("--drop-min", "0.01")]
    [InlineData("--drop-min", "2", "--drop-max", "1")]
    [InlineData("-c", "2", "-k", "3")]
    [InlineData("--offline", "-1")]
    [InlineData("--subscribe-via", "url")]
    [InlineData("-r", "0")]
    public async Task Bad_arguments_exit_with_code_1_before_any_traffic(params string[] args)
    {
        (int exitCode, JsonElement? summary) = await ToolRun.RunAsync(_reports, "bad", ["reconnect", "-u", Url, .. args]);

        Assert.Equal(Program.ExitFatal, exitCode);
        Assert.Null(summary);
        Assert.Equal(0, Server.State.Metrics.ConnectionsTotal);
    }
}
