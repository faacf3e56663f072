using System.Text.Json;
using FastWs.LoadGen.Tests.TestSupport;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The load tool over wss://: fanout and connect against a real FastWs server serving TLS with a self-signed
/// certificate (PEM files, as an operator configures them), trusted with --ca or --insecure; and what it refuses.
/// </summary>
public sealed class TlsScenarioTests : IAsyncLifetime
{
    private readonly string _reports = Path.Combine(Path.GetTempPath(), "fastws-loadgen-tls-tests-" + Guid.NewGuid().ToString("N"));
    private readonly TlsFiles _files = new();
    private TestServer? _server;

    private TestServer Server => _server ?? throw new InvalidOperationException("not started");

    private string Url => Server.WebSocketUri.ToString();

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_reports);
        _server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxPublishesPerSecond = 0;
            o.WebSocket.Tls.CertificateFile = _files.CertificateFile;
            o.WebSocket.Tls.KeyFile = _files.KeyFile;
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _files.Dispose();
        Directory.Delete(_reports, recursive: true);
    }

    private Task<(int ExitCode, JsonElement? Summary)> RunAsync(string name, params string[] args) => ToolRun.RunAsync(_reports, name, args);

    private static double Metric(JsonElement summary, string key) => summary.GetProperty("metrics").GetProperty(key).GetProperty("value").GetDouble();

    private static void AssertNoErrors(JsonElement summary)
    {
        Assert.Equal(0, summary.GetProperty("errors").GetArrayLength());
        Assert.Equal(0, Metric(summary, "errors"));
        Assert.False(summary.GetProperty("partial").GetBoolean());
    }

    [Fact]
    public async Task Fanout_over_wss_trusting_the_certificate_file_delivers_everything()
    {
        Assert.Equal("wss", Server.WebSocketUri.Scheme);
        (int exit, JsonElement? result) = await RunAsync(
            "fanout", "fanout", "-u", Url, "--ca", _files.CertificateFile, "-s", "20", "-c", "2", "-r", "200",
            "--warmup", "0.5", "--duration", "1.5", "--threshold", "ratio>=1", "--threshold", "errors==0");

        Assert.Equal(Program.ExitOk, exit);
        JsonElement summary = Assert.NotNull(result);
        AssertNoErrors(summary);
        Assert.True(Metric(summary, "expected") > 0);
        Assert.Equal(Metric(summary, "expected"), Metric(summary, "received"));
        Assert.Equal(0, Metric(summary, "seq_gaps"));
        Assert.Contains(_files.CertificateFile, summary.GetProperty("settings").GetProperty("tls").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_over_wss_opens_holds_and_closes_every_connection()
    {
        (int exit, JsonElement? result) = await RunAsync("connect", "connect", "-u", Url, "--insecure", "-n", "30", "--hold", "0.3");

        Assert.Equal(Program.ExitOk, exit);
        JsonElement summary = Assert.NotNull(result);
        AssertNoErrors(summary);
        Assert.Equal(30, Metric(summary, "connections"));
        Assert.Equal(30, Metric(summary, "alive_after_hold"));
        Assert.True(Metric(summary, "handshakes") > 0);
        await TestServer.WaitUntilAsync(() => Server.State.Connections.Count == 0, "the server to see every connection closed");
    }

    [Fact]
    public async Task An_untrusted_certificate_fails_every_connection_as_a_tls_error()
    {
        // No --ca and no --insecure: the system trust store does not know the test certificate.
        (_, JsonElement? result) = await RunAsync("untrusted", "connect", "-u", Url, "-n", "3", "--hold", "0", "--connect-timeout", "5");

        JsonElement summary = Assert.NotNull(result);
        Assert.Equal(0, Metric(summary, "connections"));
        JsonElement[] errors = [.. summary.GetProperty("errors").EnumerateArray()];
        Assert.Contains(errors, e => e.GetProperty("kind").GetString()!.StartsWith("tls:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--insecure")]
    [InlineData("--ca", "/nonexistent/ca.pem")]
    public async Task Tls_options_are_refused_where_they_cannot_apply(params string[] tlsArgs)
    {
        // --insecure with ws://, and a --ca file that cannot be read: exit 1 before any connection.
        string url = tlsArgs[0] == "--insecure" ? new UriBuilder(Server.WebSocketUri) { Scheme = "ws" }.Uri.ToString() : Url;
        (int exit, JsonElement? summary) = await RunAsync("refused-" + tlsArgs.Length, ["connect", "-u", url, "-n", "1", .. tlsArgs]);

        Assert.Equal(Program.ExitFatal, exit);
        Assert.Null(summary);
    }
}
