using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// deploy/cluster.sh (issue 18) for real: Debian's redis-server, two FastWs nodes and HAProxy, started detached on
/// free loopback ports, WebSocket clients through HAProxy, then <c>cluster.sh stop</c>. A missing haproxy or
/// redis-server fails the test with the script's message (.ci/run installs them).
/// </summary>
public sealed class ClusterScriptTests : IDisposable
{
    private readonly string _runDir = Path.Combine(Path.GetTempPath(), "fastws-cluster-test-" + Guid.NewGuid().ToString("N"));
    private bool _started;

    public void Dispose()
    {
        if (_started)
        {
            // Whatever happened in the test: leave nothing running.
            Script(TimeSpan.FromSeconds(60), "stop", "--run-dir", _runDir);
        }

        try
        {
            Directory.Delete(_runDir, recursive: true);
        }
        catch (IOException)
        {
            // Logs of a process still exiting; the temp folder is cleaned later.
        }
    }

    [Fact]
    public async Task Two_nodes_behind_HAProxy_share_the_WebSocket_clients_and_stop_cleanly()
    {
        (int ws, int http, int node, int redis) = FreePorts();
        (int code, string output) = Script(
            TimeSpan.FromSeconds(240),
            "2", "--detach", "--run-dir", _runDir, "--ws-port", P(ws), "--http-port", P(http), "--node-port", P(node), "--redis-port", P(redis));
        _started = true;
        Assert.True(code == 0, "cluster.sh 2 failed (exit " + code + "):\n" + output);
        Assert.Contains($"ws://127.0.0.1:{ws}/ws", output, StringComparison.Ordinal);
        int[] pids = new[] { "redis", "node1", "node2", "haproxy" }.Select(ReadPid).ToArray();

        // Ten clients through HAProxy (leastconn): each must reach a node and be greeted by it.
        var clients = new List<ClientWebSocket>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            for (int i = 0; i < 10; i++)
            {
                var client = new ClientWebSocket();
                clients.Add(client);
                await client.ConnectAsync(new Uri($"ws://127.0.0.1:{ws}/ws"), timeout.Token);
                string greeting = await ReceiveTextAsync(client, timeout.Token);
                Assert.Contains("\"connected\"", greeting, StringComparison.Ordinal);
            }

            int first = await ConnectionsAsync(node + 100);
            int second = await ConnectionsAsync(node + 101);
            Assert.True(first > 0 && second > 0, $"HAProxy did not spread the clients: node 1 has {first}, node 2 has {second}");
            Assert.Equal(10, first + second);

            // The HTTP frontend reaches a node's publish API.
            using var httpClient = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var body = new StringContent("{\"channel\":\"bench:1\",\"data\":{\"x\":1}}", Encoding.UTF8, "application/json");
            using HttpResponseMessage published = await httpClient.PostAsync(new Uri($"http://127.0.0.1:{http}/api/publish"), body);
            Assert.Equal(HttpStatusCode.Accepted, published.StatusCode);
        }
        finally
        {
            foreach (ClientWebSocket client in clients)
            {
                client.Abort();
                client.Dispose();
            }
        }

        (code, output) = Script(TimeSpan.FromSeconds(60), "stop", "--run-dir", _runDir);
        _started = false;
        Assert.True(code == 0, "cluster.sh stop failed:\n" + output);
        foreach (int pid in pids)
        {
            Assert.False(Running(pid), $"process {pid} still runs after cluster.sh stop");
        }

        Assert.Empty(Directory.GetFiles(_runDir, "*.pid"));
    }

    private static string P(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs deploy/cluster.sh with a bound on its time; a script that overruns is killed and fails the test.</summary>
    private static (int Code, string Output) Script(TimeSpan limit, params string[] args)
    {
        var start = new ProcessStartInfo("bash", ["deploy/cluster.sh", .. args])
        {
            WorkingDirectory = Repository.Root(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process script = Process.Start(start)!;
        Task<string> stdout = script.StandardOutput.ReadToEndAsync();
        Task<string> stderr = script.StandardError.ReadToEndAsync();
        if (!script.WaitForExit(limit))
        {
            script.Kill(entireProcessTree: true);
            Assert.Fail($"cluster.sh {string.Join(' ', args)} did not finish within {limit.TotalSeconds} s");
        }

        script.WaitForExit();
        return (script.ExitCode, stdout.Result + stderr.Result);
    }

    private int ReadPid(string name)
    {
        string line = File.ReadAllText(Path.Combine(_runDir, name + ".pid"));
        return int.Parse(line.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Alive and not a zombie (a detached process whose parent has not reaped it yet has exited all the same).</summary>
    private static bool Running(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task<int> ConnectionsAsync(int httpPort)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using JsonDocument stats = JsonDocument.Parse(await client.GetStringAsync(new Uri($"http://127.0.0.1:{httpPort}/ws/stats")));
        return stats.RootElement.GetProperty("totalConnections").GetInt32();
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket client, CancellationToken ct)
    {
        byte[] buffer = new byte[4096];
        ValueWebSocketReceiveResult result = await client.ReceiveAsync(buffer.AsMemory(), ct);
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    /// <summary>
    /// A block of free loopback ports below the ephemeral range: HAProxy's two, the nodes' (P, P+1 and P+100, P+101)
    /// and Redis's. cluster.sh checks them again and refuses a taken one.
    /// </summary>
    private static (int Ws, int Http, int Node, int Redis) FreePorts()
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int node = Random.Shared.Next(20000, 31000);
            int[] wanted = [node, node + 1, node + 100, node + 101, node + 200, node + 201, node + 202];
            if (wanted.All(IsFree))
            {
                return (node + 200, node + 201, node, node + 202);
            }
        }

        throw new InvalidOperationException("no block of free loopback ports found");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
