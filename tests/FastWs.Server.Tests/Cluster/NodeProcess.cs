using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FastWs.Server.Tests.Cluster;

/// <summary>
/// A FastWs node as a child process (the server assembly next to the tests, run by <c>dotnet</c>), for faults only a
/// real process has: SIGKILL with no shutdown at all.
/// </summary>
internal sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;

    private NodeProcess(Process process, int webSocketPort, int httpPort)
    {
        _process = process;
        WebSocketUri = new Uri($"ws://127.0.0.1:{webSocketPort}/ws");
        HttpUri = new Uri($"http://127.0.0.1:{httpPort}");
    }

    public Uri WebSocketUri { get; }

    public Uri HttpUri { get; }

    public static async Task<NodeProcess> StartAsync(RedisProcess redis)
    {
        int webSocketPort = FreePort(), httpPort = FreePort();
        string dll = Path.Combine(AppContext.BaseDirectory, "FastWs.Server.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            dll, $"--FastWs:WebSocket:Port={webSocketPort}", $"--FastWs:Http:Port={httpPort}", "--FastWs:WarmUp=false",
            "--FastWs:Broker:Kind=Redis", $"--FastWs:Broker:Redis:Configuration={redis.Configuration}",
            "--FastWs:Limits:MaxConnectionsPerIp=0", "--FastWs:Limits:MaxMessagesPerWindow=0", "--Logging:LogLevel:Default=Warning",
        })
        {
            start.ArgumentList.Add(arg);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("the node did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var node = new NodeProcess(process, webSocketPort, httpPort);
        using var http = new HttpClient { BaseAddress = node.HttpUri, Timeout = TimeSpan.FromSeconds(2) };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(process.HasExited, "the node exited at start");
            try
            {
                if ((await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK)
                {
                    return node;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "the node did not become ready in 30 s");
            await Task.Delay(100);
        }
    }

    /// <summary>SIGKILL: no close frames, no drain, no goodbye to Redis.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
