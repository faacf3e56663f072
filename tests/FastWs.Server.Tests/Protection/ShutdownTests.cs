using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.FanOut;
using FastWs.Server.Tests.TestSupport;
using WebSocketMessageType = FastWs.Protocol.Frames.WebSocketMessageType;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// Graceful shutdown beyond <see cref="CloseTests"/>: health and readiness while it runs, publishes refused, and the real
/// process on SIGTERM (close 1001 to clients, exit code 0).
/// </summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Readyz_turns_503_and_publishes_are_refused_during_shutdown_while_healthz_stays_200()
    {
        TestServer server = await TestServer.StartAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(5));
        await using (server)
        {
            Assert.Equal((HttpStatusCode.OK, "ok\n"), await ProtectionKit.GetAsync(server, "/healthz"));
            Assert.Equal(HttpStatusCode.OK, (await ProtectionKit.GetAsync(server, "/readyz")).Status);
            Assert.False((await ProtectionKit.StatsAsync(server)).GetProperty("shuttingDown").GetBoolean());

            // A client that never answers the server's close keeps the shutdown in progress for the close timeout.
            // (The pong shows its handler is in the frame loop: one accepted at the very moment shutdown begins is
            // sent its close and dropped at once by the handler itself, which would end the shutdown early.)
            await using RawClient lingering = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
            await lingering.SendTextAsync("""{"type":"ping"}""");
            Assert.Equal("""{"type":"pong"}""", await lingering.ReadTextAsync());
            Assert.Equal(1, server.State.Connections.Count);
            var watch = Stopwatch.StartNew();
            Task stopping = server.StopAsync();
            await TestServer.WaitUntilAsync(() => server.State.IsShuttingDown, "shutdown to begin");

            (HttpStatusCode status, string body) = await ProtectionKit.GetAsync(server, "/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains("shutting down", body, StringComparison.Ordinal);
            Assert.Equal((HttpStatusCode.OK, "ok\n"), await ProtectionKit.GetAsync(server, "/healthz"));
            Assert.True((await ProtectionKit.StatsAsync(server)).GetProperty("shuttingDown").GetBoolean());

            using (var http = new HttpClient { Timeout = TestServer.DefaultTimeout })
            using (var content = new StringContent("""{"channel":"price:SOL","data":1}""", Encoding.UTF8, "application/json"))
            using (HttpResponseMessage publish = await http.PostAsync(new Uri(server.HttpUri, "/api/publish"), content))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, publish.StatusCode);
            }

            Assert.Equal(PublishOutcome.ShuttingDown, (await server.Server.Publisher.PublishAsync("price:SOL", "1")).Outcome);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"The checks ran after the shutdown could have ended ({watch.ElapsedMilliseconds} ms)");
            Assert.False(stopping.IsCompleted, "Shutdown ended before the close timeout while a client had not answered");

            // The client answers the close at last, and shutdown completes without waiting out the timeout.
            RawFrame close = await lingering.ReadFrameAsync();
            Assert.Equal(WebSocketMessageType.Close, close.Type);
            Assert.Equal(CloseCode.GoingAway, close.CloseStatus);
            await lingering.SendCloseAsync(CloseCode.GoingAway);
            await stopping;
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4.5), $"Shutdown took {watch.ElapsedMilliseconds} ms though the client answered");
            Assert.Equal(0, server.State.Connections.Count);
        }
    }
}

/// <summary>The real server process: SIGTERM closes every client with 1001 and the process exits 0.</summary>
[Collection(HeavyCollection.Name)]
public sealed class ShutdownProcessTests
{
    [Fact]
    public async Task SIGTERM_sends_1001_to_clients_and_the_process_exits_0()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "Sends SIGTERM with kill(1)");
        int webSocketPort = FreePort(), httpPort = FreePort();
        var output = new StringBuilder();
        using Process process = StartServer(output, $"--FastWs:WebSocket:Port={webSocketPort}", $"--FastWs:Http:Port={httpPort}", "--FastWs:CloseTimeout=00:00:05");
        try
        {
            var httpUri = new Uri($"http://127.0.0.1:{httpPort}");
            await WaitForHealthyAsync(process, httpUri, output);

            // Ready once the start-up warm-up connection is done (503 "warming up" until then), as a load balancer sees it.
            HttpStatusCode ready = HttpStatusCode.ServiceUnavailable;
            for (var wait = Stopwatch.StartNew(); ready != HttpStatusCode.OK && wait.Elapsed < TestServer.DefaultTimeout; await Task.Delay(20))
            {
                ready = (await ProtectionKit.GetAsync(httpUri, "/readyz")).Status;
            }

            Assert.Equal(HttpStatusCode.OK, ready);

            await using TestClient client = await TestClient.ConnectAsync(new Uri($"ws://127.0.0.1:{webSocketPort}/ws"));
            await SubscriptionTests.Subscribe(client, "price:SOL");

            var watch = Stopwatch.StartNew();
            using (Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync().WaitAsync(TestServer.DefaultTimeout);
                Assert.Equal(0, kill.ExitCode);
            }

            // The client answers the close (as TestClient does), so the server need not wait out its 5 s close timeout.
            await client.AssertClosedWithAsync(WebSocketCloseStatus.EndpointUnavailable, TimeSpan.FromSeconds(10));
            Assert.Equal("Server is shutting down", client.CloseDescription);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            watch.Stop();

            Assert.True(process.ExitCode == 0, $"Exit code {process.ExitCode}; output:\n{Output(output)}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"Shutdown took {watch.ElapsedMilliseconds} ms though the only client answered the close at once");
            Assert.Equal(WebSocketState.Closed, client.Socket.State);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TestServer.DefaultTimeout);
            }
        }
    }

    [Theory]
    [InlineData("epoll", true)]
    [InlineData("sockets", true)]
    [InlineData("epoll", false)]
    public async Task A_port_in_use_ends_the_process_with_exit_code_1_and_one_clear_line(string engine, bool webSocketPortTaken)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int takenPort = ((IPEndPoint)taken.LocalEndpoint).Port;
        int webSocketPort = webSocketPortTaken ? takenPort : FreePort(), httpPort = webSocketPortTaken ? FreePort() : takenPort;

        var output = new StringBuilder();
        using Process process = StartServer(output, $"--FastWs:WebSocket:Port={webSocketPort}", $"--FastWs:Http:Port={httpPort}",
            "--FastWs:Transport:Engine=" + (engine == "epoll" ? "Epoll" : "Sockets"));
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            string text = Output(output);
            Assert.True(process.ExitCode == 1, $"Exit code {process.ExitCode}; output:\n{text}");
            Assert.Contains($"FastWs could not start: Failed to bind to address http://127.0.0.1:{takenPort}: address already in use.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", text, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>Starts the real server process (the built FastWs.Server.dll) with warnings-only logging; its output goes to <paramref name="output"/>.</summary>
    private static Process StartServer(StringBuilder output, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "FastWs.Server.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing");
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        Assert.True(process.Start());
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string Output(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static async Task WaitForHealthyAsync(Process process, Uri httpUri, StringBuilder output)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(process.HasExited, $"The server exited with {(process.HasExited ? process.ExitCode : 0)} at start; output:\n{Output(output)}");
            try
            {
                if ((await ProtectionKit.GetAsync(httpUri, "/healthz")).Status == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"The server did not become healthy within 30 s; output:\n{Output(output)}");
            await Task.Delay(100);
        }
    }
}
