using System.Text;
using System.Text.Json;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Scenarios;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// Issue 17's load-tool figures end to end, in process, against a real FastWs server with the market-data defaults
/// (<c>price</c>: inline, 500 ms conflation, snapshots; <c>trades</c>: a history of 1,000 messages), on loopback, a few
/// seconds each: the <c>conflation</c> scenario, the <c>history-memory</c> mode, and <c>fanout</c> on a <c>bench</c>
/// namespace switched to the inline format.
/// </summary>
public sealed class MarketDataScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-md-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    private string Url => Server.WebSocketUri.ToString();

    private static string Pid => Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        _server = await TestServer.StartAsync(
            options =>
            {
                options.Limits.MaxPublishesPerSecond = 0;
                options.Namespaces["bench"].Format = MessageFormat.Inline;
            },
            marketDataDefaults: true);
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

    private async Task<JsonElement> RunExpectingAsync(int exitCode, string name, params string[] args)
    {
        (int actual, JsonElement? summary) = await ToolRun.RunAsync(_reports, name, args);
        Assert.Equal(exitCode, actual);
        return Assert.NotNull(summary);
    }

    [Fact]
    public async Task Conflation_delivers_at_most_about_one_update_per_interval_sends_probes_at_once_and_never_goes_backwards()
    {
        long conflatedBefore = Server.State.Metrics.Conflated;
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "conflation",
            "conflation", "-u", Url, "-s", "20", "--slabs", "20", "-k", "2", "-r", "2000", "--probes", "4", "--probe-every", "0.8",
            "--warmup", "0.5", "--duration", "3", "--server-pid", Pid);

        Assert.Equal("conflation", summary.GetProperty("scenario").GetString());
        Assert.False(summary.GetProperty("partial").GetBoolean());
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.Equal(20, Metric(summary, "subscribers"));

        // 100 updates/s per slab, 2 subscribers each: without conflation 2 × published deliveries; with 500 ms about
        // 2 per second per subscription (the first at once, then one per interval), so well under a tenth.
        Assert.True(Metric(summary, "published") > 4000, $"published {Metric(summary, "published")}");
        Assert.Equal(2 * Metric(summary, "published"), Metric(summary, "unconflated"));
        Assert.True(Metric(summary, "received") > 0);
        Assert.True(Metric(summary, "conflation_ratio") < 0.1, $"conflation ratio {Metric(summary, "conflation_ratio")}");
        Assert.True(Metric(summary, "per_subscription_rate") < 4, $"{Metric(summary, "per_subscription_rate")} deliveries/s per subscription");
        Assert.True(Server.State.Metrics.Conflated > conflatedBefore, "the server replaced updates");
        Assert.True(Metric(summary, "stats_conflated") > 0, "read from /ws/stats on the WebSocket port");

        // Every probe update follows a quiet interval: all delivered, none held for the interval.
        Assert.True(Metric(summary, "probe_expected") > 0);
        Assert.Equal(Metric(summary, "probe_expected"), Metric(summary, "probe_received"));
        Assert.True(Metric(summary, "probe_p50") < 250, $"probe p50 {Metric(summary, "probe_p50")} ms");

        Assert.Equal(0, Metric(summary, "backwards"));
        Assert.Equal(0, Metric(summary, "repeats"));
        Assert.Equal(0, Metric(summary, "seq_gaps"));
        Assert.Equal(0, Metric(summary, "stale_at_end"));
        Assert.True(Metric(summary, "server_cpu_us_per_1k_published") >= 0);
        Assert.Contains(summary.GetProperty("thresholds").EnumerateArray(), t => t.GetProperty("expression").GetString() == "backwards==0" && t.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task History_memory_fills_new_channels_over_http_and_reports_the_bytes_per_channel_and_message()
    {
        long channelsBefore = Server.State.Channels.History().Channels;
        string httpUrl = new Uri(Server.HttpUri, "/api/publish").ToString();
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "history",
            "history-memory", "-u", Url, "--http-url", httpUrl, "-c", "20", "-m", "50", "--payload", "100", "--batch", "300", "--settle", "0", "--server-pid", Pid);

        Assert.Equal("history-memory", summary.GetProperty("scenario").GetString());
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.Equal(1000, Metric(summary, "published"));
        Assert.Equal(20, Metric(summary, "history_channels"));
        Assert.Equal(1000, Metric(summary, "kept_messages"));
        Assert.Equal(channelsBefore + 20, Server.State.Channels.History().Channels);

        // 100-byte data objects: at least the data, in pooled buffers rounded up to powers of two.
        Assert.Equal(100 * 1000, Metric(summary, "data_bytes"));
        Assert.True(Metric(summary, "buffer_per_message") >= 100, $"{Metric(summary, "buffer_per_message")} B per message");
        Assert.Equal(Metric(summary, "buffer_bytes") / 20, Metric(summary, "buffer_per_channel"), 3);
        Assert.True(Metric(summary, "buffer_overhead") >= 1);
    }

    [Fact]
    public async Task History_memory_warns_when_the_history_keeps_fewer_messages_than_were_published()
    {
        string httpUrl = new Uri(Server.HttpUri, "/api/publish").ToString();
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "history-short",
            "history-memory", "-u", Url, "--http-url", httpUrl, "-c", "2", "-m", "1100", "--payload", "40", "--settle", "0");

        Assert.Equal(2000, Metric(summary, "kept_messages"));
        Assert.Contains(summary.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("200 published message(s) are not kept", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Fanout_counts_inline_deliveries_like_envelopes()
    {
        JsonElement summary = await RunExpectingAsync(
            Program.ExitOk,
            "fanout-inline",
            "fanout", "-u", Url, "-s", "5", "-c", "1", "-r", "200", "--warmup", "0.3", "--duration", "1.5", "--threshold", "ratio>=1.0");

        Assert.True(Metric(summary, "expected") > 0);
        Assert.Equal(Metric(summary, "expected"), Metric(summary, "received"));
        Assert.Equal(0, Metric(summary, "seq_gaps"));
        Assert.False(summary.GetProperty("metrics").TryGetProperty("untimed", out _));
    }

    [Fact]
    public void Bad_conflation_and_history_memory_arguments_are_refused_before_any_connection()
    {
        var conflation = new FastWs.LoadGen.Cli.ParsedOptions
        {
            Scenario = "conflation", Url = Url, Duration = 1, ConnectConcurrency = 1, ConnectTimeout = 1, ReceiveBuffer = 16384,
            Subscribers = 10, Slabs = 10, ChannelsPerSubscriber = 2, Rate = 100, Publishers = 1, Probes = 2, ProbeEvery = 1.5, ConflationMs = 500,
        };
        Assert.Null(conflation.Validate().Error);
        Assert.Equal("http://" + Server.WebSocketEndPoint + "/ws/stats", conflation.Validate().Settings!.StatsUrl!.ToString());
        Assert.Contains("--slabs-per-subscriber must be between 1 and --slabs", (conflation with { ChannelsPerSubscriber = 11 }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("--probe-every must be longer than the conflation interval", (conflation with { ProbeEvery = 0.4 }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("--stats-url refusing", (conflation with { StatsUrlText = "http://10.1.2.3/ws/stats" }).Validate().Error, StringComparison.Ordinal);

        var history = new FastWs.LoadGen.Cli.ParsedOptions
        {
            Scenario = "history-memory", Url = Url, Duration = 1, ConnectConcurrency = 1, ConnectTimeout = 1, ReceiveBuffer = 16384,
            Channels = 10, Messages = 10, Batch = 10, PublishVia = FastWs.LoadGen.Cli.PublishVia.Http, HttpUrlText = "http://127.0.0.1:9/api/publish",
        };
        Assert.Equal("http://127.0.0.1:9/ws/stats", history.Validate().Settings!.StatsUrl!.ToString());
        Assert.Contains("--channels × --messages must be at most", (history with { Channels = 100_000, Messages = 10_000 }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("--http-url refusing", (history with { HttpUrlText = "http://192.0.2.1:8081/api/publish" }).Validate().Error, StringComparison.Ordinal);
    }
}

/// <summary>The conflation scenario's per-subscriber checks and subscription layout, without a server.</summary>
public sealed class SlabCheckTests
{
    [Fact]
    public void A_newer_value_passes_an_older_one_goes_backwards_and_the_same_one_is_a_repeat()
    {
        var checker = new SlabValueChecker(3);
        Assert.Equal(ValueVerdict.Newer, checker.Observe(0, 5, 1, snapshot: true));
        Assert.Equal(ValueVerdict.Newer, checker.Observe(0, 9, 2, snapshot: false));
        Assert.Equal(ValueVerdict.Backwards, checker.Observe(0, 7, 3, snapshot: false));
        Assert.Equal(ValueVerdict.Repeat, checker.Observe(0, 9, 4, snapshot: false));
        Assert.Equal(ValueVerdict.Newer, checker.Observe(1, 1, 1, snapshot: false));
        Assert.Equal(ValueVerdict.NoValue, checker.Observe(2, null, 1, snapshot: false));
        Assert.Equal(9, checker.LastValue(0));
        Assert.Equal(1, checker.Backwards);
        Assert.Equal(1, checker.Repeats);
        Assert.Equal(1, checker.Snapshots);
        Assert.Equal(0, checker.SeqGaps);

        checker.Observe(1, 2, 4, snapshot: false);
        Assert.Equal(2, checker.SeqGaps);
    }

    [Fact]
    public void Every_slab_gets_the_same_number_of_subscribers_and_a_channel_maps_back_to_its_slot()
    {
        var perSlab = new int[1000];
        for (int i = 0; i < 1000; i++)
        {
            string[] channels = ConflationScenario.ChannelsOf(i, 1000, 10, 20, "price:");
            Assert.Equal(11, channels.Length);
            Assert.Equal("price:P" + (i % 20), channels[^1]);
            foreach (string c in channels[..^1])
            {
                perSlab[int.Parse(c["price:S".Length..], System.Globalization.CultureInfo.InvariantCulture)]++;
            }
        }

        Assert.All(perSlab, n => Assert.Equal(10, n));

        var sink = new ConflationSink(1000, 1000, 10, 20, "price:", new ErrorCounter());
        Assert.Equal(3, sink.SlotOf(7, "price:S73"u8, out bool probe));
        Assert.False(probe);
        Assert.Equal(10, sink.SlotOf(7, "price:P7"u8, out probe));
        Assert.True(probe);
        Assert.Equal(-1, sink.SlotOf(7, "price:P8"u8, out _));
        Assert.Equal(-1, sink.SlotOf(7, "price:S80"u8, out _));
        Assert.Equal(-1, sink.SlotOf(7, "price:S7x"u8, out _));
        Assert.Equal(-1, sink.SlotOf(7, Encoding.UTF8.GetBytes("trades:S73"), out _));

        // Wrapping round: subscriber 999's slabs are 990..999 (and 1000 mod 1000 = 0 for subscriber 100's tenth).
        Assert.Equal(9, sink.SlotOf(999, "price:S999"u8, out _));
    }
}
