using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace FastWs.Server.Tests.Cluster;

/// <summary>
/// A real <c>redis-server</c> (Debian's package; <c>.ci/run</c> installs it where it is missing) on a free loopback
/// port, without persistence, as a child process of the test. A machine without it fails the test, loudly.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private readonly string? _password;
    private Process? _process;

    private RedisProcess(int port, string? password)
    {
        Port = port;
        _password = password;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for the nodes.</summary>
    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000";

    /// <summary>Starts one; with <paramref name="password"/> it requires AUTH (<c>--requirepass</c>).</summary>
    public static async Task<RedisProcess> StartAsync(string? password = null)
    {
        var redis = new RedisProcess(FreePort(), password);
        await redis.RestartAsync();
        return redis;
    }

    /// <summary>Starts it (again, empty: no persistence) on the same port.</summary>
    public async Task RestartAsync()
    {
        string binary = Find("redis-server")
            ?? throw new InvalidOperationException("redis-server not found on PATH: install Debian's redis-server package (.ci/run does)");
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning" })
        {
            start.ArgumentList.Add(arg);
        }

        if (_password is not null)
        {
            start.ArgumentList.Add("--requirepass");
            start.ArgumentList.Add(_password);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10) && !_process.HasExited)
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Kills it (SIGKILL: what a crash or an OOM kill does).</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>A short-lived client for looking into Redis from a test.</summary>
    public async Task<T> WithClientAsync<T>(Func<IServer, IDatabase, Task<T>> use)
    {
        await using ConnectionMultiplexer client = await ConnectionMultiplexer.ConnectAsync(Configuration + ",allowAdmin=true");
        return await use(client.GetServer("127.0.0.1", Port), client.GetDatabase());
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(dir => Path.Combine(dir, name))
            .Concat(["/usr/bin/" + name, "/usr/local/bin/" + name])
            .FirstOrDefault(File.Exists);
}
