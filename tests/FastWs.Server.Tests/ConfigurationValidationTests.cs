using System.Diagnostics;
using System.Text;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Options;

namespace FastWs.Server.Tests;

/// <summary>
/// A bad setting of each kind stops the start with one message naming the setting's path and the problem
/// (<see cref="FastWsOptionsValidator"/>), from the options object or from configuration text; the process exits
/// with 1 and that line on standard error, no stack trace.
/// </summary>
public sealed class ConfigurationValidationTests
{
    private static async Task<string> StartFailsAsync(Action<FastWsOptions>? configure = null, string[]? args = null)
    {
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServer.StartAsync(configure, args));
        Assert.DoesNotContain("   at ", error.Message, StringComparison.Ordinal);
        return error.Message;
    }

    [Fact]
    public async Task Endpoints_address_port_and_path()
    {
        Assert.Contains("FastWs:WebSocket:Address: 'localhost:80' is not an IP address", await StartFailsAsync(o => o.WebSocket.Address = "localhost:80"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Http:Port: 70000 is not a port (0..65535", await StartFailsAsync(o => o.Http.Port = 70000), StringComparison.Ordinal);
        Assert.Contains("FastWs:Path: 'ws' is not a request path", await StartFailsAsync(o => o.Path = "ws"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Http:Port: 9123 is also FastWs:WebSocket:Port", await StartFailsAsync(o =>
        {
            o.WebSocket.Port = 9123;
            o.Http.Port = 9123;
        }), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sizes_must_be_positive()
    {
        Assert.Contains("FastWs:MaxMessageSize: 0 must be positive", await StartFailsAsync(o => o.MaxMessageSize = 0), StringComparison.Ordinal);
        Assert.Contains("FastWs:SlowConsumer:MaxBufferedBytes: -1 must be positive", await StartFailsAsync(args: ["--FastWs:SlowConsumer:MaxBufferedBytes=-1"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Timeouts_that_contradict_each_other_or_are_negative()
    {
        string pong = await StartFailsAsync(args: ["--FastWs:Heartbeat:PingInterval=00:00:10", "--FastWs:Heartbeat:PongTimeout=00:00:10"]);
        Assert.StartsWith("FastWs:Heartbeat:PongTimeout: 00:00:10 must be shorter than FastWs:Heartbeat:PingInterval (00:00:10)", pong, StringComparison.Ordinal);

        Assert.Contains("FastWs:CloseTimeout: -00:00:01 must not be negative", await StartFailsAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(-1)), StringComparison.Ordinal);
        Assert.Contains("FastWs:HandshakeTimeout: -00:00:01 must not be negative", await StartFailsAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(-1)), StringComparison.Ordinal);

        // With pings off the pong timeout is not used, so any value passes.
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Heartbeat.PingInterval = TimeSpan.Zero;
            o.Heartbeat.PongTimeout = TimeSpan.FromMinutes(5);
        });
    }

    [Fact]
    public async Task A_value_that_does_not_convert_names_the_setting()
    {
        string message = await StartFailsAsync(args: ["--FastWs:Heartbeat:PongTimeout=ten seconds"]);
        Assert.Contains("'FastWs:Heartbeat:PongTimeout'", message, StringComparison.Ordinal);
        Assert.Contains("TimeSpan", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Limits_not_negative_and_consistent()
    {
        Assert.Contains("FastWs:Limits:MaxConnectionsPerIp: 20 is more than FastWs:Limits:MaxConnections (10)", await StartFailsAsync(o =>
        {
            o.Limits.MaxConnections = 10;
            o.Limits.MaxConnectionsPerIp = 20;
        }), StringComparison.Ordinal);
        Assert.Contains("FastWs:Limits:MaxSubscriptionsPerConnection: -5 must not be negative", await StartFailsAsync(o => o.Limits.MaxSubscriptionsPerConnection = -5), StringComparison.Ordinal);
        Assert.Contains("FastWs:Limits:MessageWindow: 00:00:00 must be positive while FastWs:Limits:MaxMessagesPerWindow is on", await StartFailsAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 10;
            o.Limits.MessageWindow = TimeSpan.Zero;
        }), StringComparison.Ordinal);
        Assert.Contains("FastWs:Limits:TrustedProxies:0: 'proxy.local' is not an IP address", await StartFailsAsync(o => o.Limits.TrustedProxies = ["proxy.local"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Namespaces_names_rules_patterns_and_quotas()
    {
        Assert.Contains("FastWs:Namespaces:or ders: 'or ders' is not a namespace name", await StartFailsAsync(o => o.Namespaces["or ders"] = new NamespaceOptions()), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:orders:KeyPattern: '(a)\\1' is not a valid regular expression", await StartFailsAsync(o => o.Namespaces["orders"] = new NamespaceOptions { KeyPattern = "(a)\\1" }), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:orders:Quota: 'vip' is not one of FastWs:Limits:SubscriptionQuotas", await StartFailsAsync(o => o.Namespaces["orders"] = new NamespaceOptions { Quota = "vip" }), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:orders:Publish: 'Loopbak' is not an access rule", await StartFailsAsync(args: ["--FastWs:Namespaces:orders:Publish=Loopbak"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Namespace_formats_conflation_history_and_retention()
    {
        Assert.Contains("FastWs:Namespaces:trades:Format: 'Inlined' is not", await StartFailsAsync(args: ["--FastWs:Namespaces:trades:Format=Inlined"]), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:price:ConflationInterval: -00:00:01 must be between", await StartFailsAsync(o => o.Namespaces["price"].ConflationInterval = TimeSpan.FromSeconds(-1)), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:trades:History:Size: -1 must be between", await StartFailsAsync(o => o.Namespaces["trades"].History.Size = -1), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:trades:History:MaxBytes: -1 must not be negative", await StartFailsAsync(o => o.Namespaces["trades"].History.MaxBytes = -1), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:trades:Retention: -00:00:01 must not be negative", await StartFailsAsync(o => o.Namespaces["trades"].Retention = TimeSpan.FromSeconds(-1)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_delay_is_between_zero_and_100_ms()
    {
        Assert.Contains("FastWs:Namespaces:bench:WriteDelay: -00:00:00.0010000 must be between 00:00:00 (off) and 00:00:00.1000000 (100 ms)",
            await StartFailsAsync(o => o.Namespaces["bench"].WriteDelay = TimeSpan.FromMilliseconds(-1)), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:bench:WriteDelay: 00:00:01 must be between", await StartFailsAsync(args: ["--FastWs:Namespaces:bench:WriteDelay=00:00:01"]), StringComparison.Ordinal);
        Assert.Contains("FastWs:Namespaces:bench:WriteDelay: '2ms' is not a time span", await StartFailsAsync(args: ["--FastWs:Namespaces:bench:WriteDelay=2ms"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_certificate_files_must_exist()
    {
        string missing = Path.Combine(Path.GetTempPath(), "fastws-missing-" + Guid.NewGuid().ToString("N") + ".pem");
        Assert.StartsWith($"FastWs:WebSocket:Tls:CertificateFile: file not found: {missing}", await StartFailsAsync(o => o.WebSocket.Tls.CertificateFile = missing), StringComparison.Ordinal);
        Assert.Contains("FastWs:Http:Tls:KeyFile: set without FastWs:Http:Tls:CertificateFile", await StartFailsAsync(o => o.Http.Tls.KeyFile = missing), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auth_settings_must_be_usable()
    {
        Assert.Contains("FastWs:Auth:Required is on but no key is configured", await StartFailsAsync(o => o.Auth.Required = true), StringComparison.Ordinal);
        Assert.Contains("FastWs:Auth:Jwt:HmacSecret must be at least 32 bytes", await StartFailsAsync(o => o.Auth.Jwt.HmacSecret = "short"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Auth:Jwt:JwksFile: file not found", await StartFailsAsync(o => o.Auth.Jwt.JwksFile = "/nonexistent/keys.json"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Auth:Jwt:UserClaim: must name a claim", await StartFailsAsync(o => o.Auth.Jwt.UserClaim = " "), StringComparison.Ordinal);
        Assert.Contains("FastWs:AllowedOrigins: 'not an origin' is not an origin", await StartFailsAsync(o => o.AllowedOrigins = ["not an origin"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_problems_come_in_one_message()
    {
        string message = await StartFailsAsync(o =>
        {
            o.MaxMessageSize = -1;
            o.Limits.MaxConnections = -1;
        });
        Assert.Contains("FastWs:MaxMessageSize", message, StringComparison.Ordinal);
        Assert.Contains("; FastWs:Limits:MaxConnections", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_defaults_the_shipped_settings_and_the_load_test_settings_are_valid()
    {
        Assert.Empty(new FastWsOptionsValidator().Problems(new FastWsOptions()));
        foreach (string[] files in new[] { new[] { "appsettings.json" }, new[] { "appsettings.json", "appsettings.LoadTest.json" } })
        {
            var builder = new Microsoft.Extensions.Configuration.ConfigurationBuilder();
            foreach (string file in files)
            {
                string path = Path.Combine(AppContext.BaseDirectory, file);
                Assert.True(File.Exists(path), path);
                Microsoft.Extensions.Configuration.JsonConfigurationExtensions.AddJsonFile(builder, path);
            }

            FastWsOptions options = FastWsOptionsSetup.Load(builder.Build());
            Assert.Equal(string.Join("+", files) == "appsettings.json" ? 1000 : 0, options.Limits.MaxConnections);
        }
    }

    [Fact]
    public async Task The_process_exits_with_1_and_one_line_on_standard_error()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "FastWs.Server.dll");
        var start = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { dll, "--FastWs:Heartbeat:PingInterval=00:00:05", "--FastWs:Heartbeat:PongTimeout=00:00:06", "--FastWs:WebSocket:Port=0", "--FastWs:Http:Port=0" })
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        string error = await stderr;
        Assert.True(process.ExitCode == 1, $"exit code {process.ExitCode}; stderr: {error}; stdout: {await stdout}");
        Assert.Equal(
            "FastWs could not start: FastWs:Heartbeat:PongTimeout: 00:00:06 must be shorter than FastWs:Heartbeat:PingInterval (00:00:05): a connection must have answered one ping before the next is due",
            error.Trim());
        Assert.DoesNotContain("Unhandled exception", await stdout, StringComparison.Ordinal);
    }

    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(host) && File.Exists(host) ? host : "dotnet";
    }

    [Fact]
    public async Task Broker_settings_are_checked_before_anything_connects()
    {
        Assert.Contains("Failed to convert configuration value 'Redi' at 'FastWs:Broker:Kind'", await StartFailsAsync(args: ["--FastWs:Broker:Kind=Redi"]), StringComparison.Ordinal);
        Assert.Contains("FastWs:Broker:Redis:Configuration: must name at least one Redis endpoint", await StartFailsAsync(o =>
        {
            o.Broker.Kind = FastWs.Server.Broker.BrokerKind.Redis;
            o.Broker.Redis.Configuration = "password=x";
        }), StringComparison.Ordinal);
        Assert.Contains("FastWs:Broker:Redis:Prefix: 'a{b}' must be 1-64 characters without braces or spaces", await StartFailsAsync(o => o.Broker.Redis.Prefix = "a{b}"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Broker:MaxPublishesInFlight: 0 must be at least 1", await StartFailsAsync(args: ["--FastWs:Broker:MaxPublishesInFlight=0"]), StringComparison.Ordinal);
        Assert.Contains("FastWs:Broker:InterestLinger: -00:00:01 must be between", await StartFailsAsync(o => o.Broker.InterestLinger = TimeSpan.FromSeconds(-1)), StringComparison.Ordinal);
    }
}
