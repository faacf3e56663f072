using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The load tool across nodes (issue 18): --url repeated, --publish-url, --server-pid repeated, against two real
/// single-node FastWs servers (plumbing: without a broker a node's publishes stay on that node), and --protocol
/// signalr against two real SignalR anchor nodes (perf/baselines/signalr) on a real redis-server, where a publish on
/// one node reaches the subscribers of both.
/// </summary>
public sealed class MultiNodeScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-multi-" + Guid.NewGuid().ToString("N"));
    private TestServer? _first;
    private TestServer? _second;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        _first = await TestServer.StartAsync(options => options.Limits.MaxPublishesPerSecond = 0);
        _second = await TestServer.StartAsync(options => options.Limits.MaxPublishesPerSecond = 0);
    }

    public async ValueTask DisposeAsync()
    {
        if (_first is not null)
        {
            await _first.DisposeAsync();
        }

        if (_second is not null)
        {
            await _second.DisposeAsync();
        }

        Directory.Delete(_reports, recursive: true);
    }

    private static double Metric(JsonElement summary, string key) => summary.GetProperty("metrics").GetProperty(key).GetProperty("value").GetDouble();

    private static string Setting(JsonElement summary, string name) => summary.GetProperty("settings").GetProperty(name).GetString()!;

    [Fact]
    public async Task Subscribers_go_round_robin_over_the_urls_and_the_publisher_to_the_publish_url()
    {
        string first = _first!.WebSocketUri.ToString(), second = _second!.WebSocketUri.ToString();
        string self = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        string parent = ParentPid().ToString(CultureInfo.InvariantCulture);
        (int code, JsonElement? result) = await ToolRun.RunAsync(
            _reports, "spread",
            "fanout", "-u", first, "-u", second, "--publish-url", second, "-s", "10", "-c", "1", "-r", "200",
            "--warmup", "0.5", "--duration", "1.5", "--server-pid", self, "--server-pid", parent);
        JsonElement summary = Assert.NotNull(result);

        // Five subscribers on each node, as the report says per URL.
        Assert.Equal(5, Metric(summary, "subscribers_url1"));
        Assert.Equal(5, Metric(summary, "subscribers_url2"));
        Assert.Equal(first, Setting(summary, "url 1"));
        Assert.Equal(second, Setting(summary, "url 2"));
        Assert.Equal(second, Setting(summary, "publish url"));

        // No broker between the two: the publisher's node (the second) delivered everything to its five, the first nothing.
        Assert.Equal(Metric(summary, "expected") / 2, Metric(summary, "received"));
        Assert.Equal(Program.ExitOk, code);

        // CPU summed over both processes and reported for each.
        Assert.True(summary.GetProperty("metrics").TryGetProperty("server_cpu_pct." + self, out _));
        Assert.True(summary.GetProperty("metrics").TryGetProperty("server_cpu_pct." + parent, out _));
        Assert.Equal(self + ", " + parent, Setting(summary, "server pid"));
    }

    [Fact]
    public async Task A_single_url_run_reports_as_before()
    {
        (int code, JsonElement? result) = await ToolRun.RunAsync(
            _reports, "single", "fanout", "-u", _first!.WebSocketUri.ToString(), "-s", "4", "-r", "100", "--warmup", "0.2", "--duration", "1");
        JsonElement summary = Assert.NotNull(result);
        Assert.Equal(Program.ExitOk, code);
        Assert.False(summary.GetProperty("settings").TryGetProperty("url 1", out _));
        Assert.False(summary.GetProperty("settings").TryGetProperty("publish url", out _));
        Assert.False(summary.GetProperty("metrics").TryGetProperty("subscribers_url1", out _));
        Assert.Equal(1.0, Metric(summary, "ratio"));
    }

    [Fact]
    public void Bad_multi_node_arguments_are_refused_before_any_connection()
    {
        var options = new ParsedOptions
        {
            Scenario = "fanout", Url = "ws://127.0.0.1:9001/ws", MoreUrls = ["ws://127.0.0.1:9002/ws"], Duration = 1, ConnectConcurrency = 1,
            ConnectTimeout = 1, ReceiveBuffer = 16384, Subscribers = 2, Channels = 1, Rate = 10, Publishers = 1,
        };
        RunSettings settings = Assert.IsType<RunSettings>(options.Validate().Settings);
        Assert.Equal(9001, settings.EndpointFor(0).EndPoint.Port);
        Assert.Equal(9002, settings.EndpointFor(1).EndPoint.Port);
        Assert.Equal(9001, settings.EndpointFor(2).EndPoint.Port);
        Assert.Equal(9001, settings.EndpointFor(-1).EndPoint.Port); // the publisher: the first --url by default

        Assert.Equal(9002, (options with { PublishUrlText = "ws://127.0.0.1:9002/ws" }).Validate().Settings!.EndpointFor(-1).EndPoint.Port);
        Assert.Contains("--publish-url refusing", (options with { PublishUrlText = "ws://192.0.2.1:9002/ws" }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("refusing", (options with { MoreUrls = ["ws://10.0.0.1/ws"] }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("same scheme", (options with { MoreUrls = ["wss://127.0.0.1:9002/ws"] }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("the same process is given twice", (options with { ServerPids = [1, 1] }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("fanout and slow only", (options with { Scenario = "connect", Connections = 1, Protocol = WireProtocol.SignalR }).Validate().Error, StringComparison.Ordinal);
        Assert.Contains("--publish-via http", (options with { Protocol = WireProtocol.SignalR, PublishVia = PublishVia.Http }).Validate().Error, StringComparison.Ordinal);
    }

    [Fact]
    public void SignalR_records_are_told_apart_by_their_type()
    {
        Assert.Equal(SignalRMessageKind.Handshake, SignalRProtocol.Classify("{}"u8, handshakeDone: false));
        Assert.Equal(SignalRMessageKind.Invocation, SignalRProtocol.Classify("{\"type\":1,\"target\":\"message\",\"arguments\":[\"bench:1\",{\"t\":5}]}"u8, true));
        Assert.Equal(SignalRMessageKind.Completion, SignalRProtocol.Classify("{\"type\":3,\"invocationId\":\"1\",\"result\":\"bench:1\"}"u8, true));
        Assert.Equal(SignalRMessageKind.Ping, SignalRProtocol.Classify("{\"type\":6}"u8, true));
        Assert.Equal(SignalRMessageKind.Close, SignalRProtocol.Classify("{\"type\":7,\"error\":\"bye\"}"u8, true));
        Assert.Equal("bye", SignalRProtocol.Error("{\"type\":7,\"error\":\"bye\"}"u8));
        Assert.Null(SignalRProtocol.Error("{}"u8));
        Assert.Equal(
            "{\"type\":1,\"invocationId\":\"7\",\"target\":\"Subscribe\",\"arguments\":[\"bench:1\"]}\u001e",
            System.Text.Encoding.UTF8.GetString(SignalRProtocol.Subscribe("bench:1", 7)));
    }

    [Fact]
    public async Task SignalR_anchor_nodes_on_redis_deliver_every_publish_to_the_subscribers_of_both()
    {
        int redisPort = FreePort(), port1 = FreePort(), port2 = FreePort();
        using ChildProcess redis = ChildProcess.Start("redis-server", ["--port", P(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], "Ready to accept connections");
        string dll = Path.Combine(Repository.Root(), "perf/baselines/signalr/bin/Release/net10.0/FastWs.Baseline.SignalR.dll");
        Assert.True(File.Exists(dll), dll + " is missing: build FastWs.sln in Release");
        using ChildProcess node1 = ChildProcess.Start("dotnet", [dll, "--port", P(port1), "--redis", "127.0.0.1:" + P(redisPort)], "listening on");
        using ChildProcess node2 = ChildProcess.Start("dotnet", [dll, "--port", P(port2), "--redis", "127.0.0.1:" + P(redisPort)], "listening on");

        (int code, JsonElement? result) = await ToolRun.RunAsync(
            _reports, "signalr",
            "fanout", "--protocol", "signalr", "-u", $"ws://127.0.0.1:{port1}/hub", "-u", $"ws://127.0.0.1:{port2}/hub",
            "--publish-url", $"ws://127.0.0.1:{port2}/hub", "-s", "6", "-c", "2", "-r", "100", "--warmup", "0.5", "--duration", "1.5",
            "--server-pid", P(node1.Pid), "--server-pid", P(node2.Pid), "--server-pid", P(redis.Pid));
        JsonElement summary = Assert.NotNull(result);
        Assert.True(code == Program.ExitOk, "exit " + code + ": " + summary.GetProperty("errors"));
        Assert.Equal("signalr", Setting(summary, "protocol"));
        Assert.Equal(3, Metric(summary, "subscribers_url1"));
        Assert.Equal(3, Metric(summary, "subscribers_url2"));
        Assert.True(Metric(summary, "expected") > 0);
        Assert.Equal(Metric(summary, "expected"), Metric(summary, "received"));
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.True(summary.GetProperty("metrics").TryGetProperty("server_cpu_pct." + P(redis.Pid), out _));
    }

    private static string P(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static int ParentPid()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A real process for the test's life: started, waited for until it prints its ready line, killed at the end.</summary>
    private sealed class ChildProcess : IDisposable
    {
        private readonly Process _process;

        private ChildProcess(Process process) => _process = process;

        public int Pid => _process.Id;

        public static ChildProcess Start(string file, string[] args, string readyLine)
        {
            var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            Process process;
            try
            {
                process = Process.Start(start)!;
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                Assert.Fail($"{file} could not be started ({ex.Message}): install it (Debian: apt-get install redis-server; .ci/run does)");
                throw;
            }

            var child = new ChildProcess(process);
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var output = new System.Text.StringBuilder();
            DataReceivedEventHandler onLine = (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                lock (output)
                {
                    output.AppendLine(e.Data);
                }

                if (e.Data.Contains(readyLine, StringComparison.Ordinal))
                {
                    ready.TrySetResult();
                }
            };
            process.OutputDataReceived += onLine;
            process.ErrorDataReceived += onLine;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!ready.Task.Wait(TimeSpan.FromSeconds(30)))
            {
                child.Dispose();
                lock (output)
                {
                    Assert.Fail($"{file} did not print '{readyLine}' within 30 s:\n{output}");
                }
            }

            return child;
        }

        public void Dispose()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            _process.Dispose();
        }
    }
}
