using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// Token runs end to end against a real FastWs server configured with the key the tool signs with (the HMAC secret,
/// or the public half of the ES256 key pair): every connection must be authenticated by the server, in every
/// --token-in mode; tokens signed with another secret must show up as 4001 refusals, counted as errors.
/// </summary>
public sealed class TokenScenarioTests : IAsyncLifetime
{
    private const string Secret = "a shared secret of at least 32 bytes";

    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-token-tests-" + Guid.NewGuid().ToString("N"));
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    private string Url => Server.WebSocketUri.ToString();

    private string KeyDirectory => Path.Combine(_reports, "keys");

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_reports, recursive: true);
    }

    /// <summary>A server that accepts HS256 tokens signed with <paramref name="secret"/>.</summary>
    private async Task StartHmacServerAsync(string secret = Secret) =>
        _server = await TestServer.StartAsync(options =>
        {
            options.Limits.MaxPublishesPerSecond = 0;
            options.Auth.Jwt.HmacSecret = secret;
        });

    /// <summary>A fresh ES256 key pair (the tool's keygen) and a server that trusts its public key.</summary>
    private async Task StartEs256ServerAsync()
    {
        Assert.Equal(Program.ExitOk, Auth.KeyGen.Run(KeyDirectory, force: false));
        _server = await TestServer.StartAsync(options => options.Auth.Jwt.PublicKeyFiles = [Path.Combine(KeyDirectory, Auth.KeyGen.PublicKeyFile)]);
    }

    private async Task<(int ExitCode, JsonElement Summary)> RunAsync(string name, params string[] args)
    {
        (int exitCode, JsonElement? summary) = await ToolRun.RunAsync(_reports, name, args);
        Assert.True(summary.HasValue, $"{name}: no summary.json (exit {exitCode})");
        return (exitCode, summary.Value);
    }

    private static double Metric(JsonElement summary, string key) => summary.GetProperty("metrics").GetProperty(key).GetProperty("value").GetDouble();

    private static bool HasMetric(JsonElement summary, string key) => summary.GetProperty("metrics").TryGetProperty(key, out _);

    private static string Setting(JsonElement summary, string name) => summary.GetProperty("settings").GetProperty(name).GetString()!;

    /// <summary>A clean token run: exit 0, no errors, no refusals, and in message mode an authenticated answer per connection.</summary>
    private static void AssertAuthenticatedRun(int exitCode, JsonElement summary, string placement, int connections)
    {
        Assert.Equal(Program.ExitOk, exitCode);
        Assert.Equal(0, summary.GetProperty("errors").GetArrayLength());
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.Equal(0, Metric(summary, "auth_refused"));
        Assert.Equal(placement, summary.GetProperty("token").GetProperty("in").GetString());
        if (placement == "message")
        {
            Assert.Equal(connections, Metric(summary, "authenticated"));
        }
        else
        {
            Assert.False(HasMetric(summary, "authenticated"), "no authenticated answer exists outside message mode");
        }
    }

    /// <summary>The server's own count: it authenticated exactly <paramref name="connections"/> tokens and refused none.</summary>
    private void AssertServerAuthenticated(long connections)
    {
        Assert.Equal(connections, Server.State.Metrics.AuthSuccesses);
        Assert.Equal(0, Server.State.Metrics.AuthFailuresTotal);
    }

    [Theory]
    [InlineData("url")]
    [InlineData("header")]
    [InlineData("message")]
    public async Task Connect_with_hs256_tokens_is_authenticated_by_the_server(string placement)
    {
        await StartHmacServerAsync();
        (int exitCode, JsonElement summary) = await RunAsync(
            "hs256-" + placement, "connect", "-u", Url, "-n", "20", "--hold", "0.3",
            "--mint-token", "hs256", "--mint-secret", Secret, "--token-in", placement, "--threshold", "errors==0");

        AssertAuthenticatedRun(exitCode, summary, placement, 20);
        Assert.Equal(20, Metric(summary, "connections"));
        Assert.Equal(20, Metric(summary, "alive_after_hold"));
        Assert.Equal("hs256", summary.GetProperty("token").GetProperty("kind").GetString());
        Assert.StartsWith("HS256 minted, 1 per connection", Setting(summary, "token"), StringComparison.Ordinal);
        AssertServerAuthenticated(20);
    }

    [Theory]
    [InlineData("url")]
    [InlineData("header")]
    [InlineData("message")]
    public async Task Connect_with_es256_tokens_is_authenticated_by_the_server(string placement)
    {
        await StartEs256ServerAsync();
        (int exitCode, JsonElement summary) = await RunAsync(
            "es256-" + placement, "connect", "-u", Url, "-n", "20", "--hold", "0.3",
            "--mint-token", "es256", "--mint-key", Path.Combine(KeyDirectory, Auth.KeyGen.PrivateKeyFile), "--token-in", placement);

        AssertAuthenticatedRun(exitCode, summary, placement, 20);
        Assert.Equal(20, Metric(summary, "connections"));
        Assert.Equal("es256", summary.GetProperty("token").GetProperty("kind").GetString());
        AssertServerAuthenticated(20);
    }

    [Fact]
    public async Task Fanout_in_message_mode_authenticates_subscribers_and_publisher_and_delivers_everything()
    {
        await StartHmacServerAsync();
        (int exitCode, JsonElement summary) = await RunAsync(
            "fanout-message", "fanout", "-u", Url, "-s", "10", "-r", "100", "--warmup", "0.3", "--duration", "1",
            "--mint-token", "hs256", "--mint-secret", Secret, "--token-in", "message", "--threshold", "ratio>=1");

        // 10 subscribers and the publisher; the authenticated answers are not data: every latency sample is a message.
        AssertAuthenticatedRun(exitCode, summary, "message", 11);
        Assert.True(Metric(summary, "expected") > 0);
        Assert.Equal(Metric(summary, "expected"), Metric(summary, "received"));
        Assert.False(HasMetric(summary, "untimed"), "an authenticated answer was taken for a data message");
        AssertServerAuthenticated(11);
    }

    [Fact]
    public async Task Churn_with_tokens_in_the_header_is_authenticated_on_every_cycle()
    {
        await StartHmacServerAsync();
        (int exitCode, JsonElement summary) = await RunAsync(
            "churn-header", "churn", "-u", Url, "-k", "2", "--warmup", "0.2", "--duration", "0.8",
            "--mint-token", "hs256", "--mint-secret", Secret, "--token-in", "header");

        AssertAuthenticatedRun(exitCode, summary, "header", 0);
        Assert.True(Metric(summary, "cycles") > 0);
        Assert.Equal(0, Metric(summary, "failed_cycles"));
        Assert.True(Server.State.Metrics.AuthSuccesses > (long)Metric(summary, "cycles"), "every cycle's connection and the publisher were authenticated");
        Assert.Equal(0, Server.State.Metrics.AuthFailuresTotal);
    }

    [Theory]
    [InlineData("url")]
    [InlineData("header")]
    [InlineData("message")]
    public async Task Tokens_signed_with_another_secret_are_refused_and_counted_as_errors(string placement)
    {
        await StartHmacServerAsync("the server's secret, not the tool's, 32+ bytes");
        (int exitCode, JsonElement summary) = await RunAsync(
            "refused-" + placement, "connect", "-u", Url, "-n", "10", "--hold", "0.3",
            "--mint-token", "hs256", "--mint-secret", Secret, "--token-in", placement);

        // Every connection was closed 4001 before its subscribe was acked: none opened, so the run itself failed.
        Assert.Equal(Program.ExitFatal, exitCode);
        Assert.Equal(0, Metric(summary, "connections"));
        Assert.Equal(10, Metric(summary, "auth_refused"));
        Assert.Equal(10, Metric(summary, "errors"));
        JsonElement error = Assert.Single(summary.GetProperty("errors").EnumerateArray());
        Assert.Equal("auth refused (4001): Invalid token: bad signature", error.GetProperty("kind").GetString());
        Assert.Equal(10, error.GetProperty("count").GetInt64());
        Assert.Contains(summary.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("refused their tokens", StringComparison.Ordinal));
        Assert.Equal(10, Server.State.Metrics.AuthFailuresTotal);
        Assert.Equal(0, Server.State.Metrics.AuthSuccesses);
    }

    [Fact]
    public async Task Any_token_on_a_server_without_keys_is_refused_with_the_servers_reason()
    {
        _server = await TestServer.StartAsync();
        const string token = "header.payload.signature-not-to-be-printed";
        (int exitCode, JsonElement summary) = await RunAsync(
            "no-keys", "connect", "-u", Url, "-n", "5", "--hold", "0", "--token", token, "--token-in", "message");

        Assert.Equal(Program.ExitFatal, exitCode);
        Assert.Equal(5, Metric(summary, "auth_refused"));
        Assert.Equal(0, Metric(summary, "authenticated"));
        JsonElement error = Assert.Single(summary.GetProperty("errors").EnumerateArray());
        Assert.Equal("auth refused (4001): Tokens are not accepted: no signing key configured", error.GetProperty("kind").GetString());
        Assert.DoesNotContain(token, await File.ReadAllTextAsync(Path.Combine(_reports, "no-keys", "summary.json")), StringComparison.Ordinal);
        Assert.DoesNotContain(token, await File.ReadAllTextAsync(Path.Combine(_reports, "no-keys", "report.html")), StringComparison.Ordinal);
    }
}
