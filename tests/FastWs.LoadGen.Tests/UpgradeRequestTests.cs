using System.Text;
using System.Text.Json;
using FastWs.LoadGen.Auth;
using FastWs.LoadGen.Tests.TestSupport;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The bytes the tool sends, per --token-in mode, as a peer on 127.0.0.1 receives them: the token in the
/// <c>Authorization</c> header, as the <c>token=</c> query parameter (percent-encoded, after any query already
/// there), or as the first text frame after the 101. The peer answers a valid 101 and nothing else, so the runs
/// use <c>connect --channels 0</c>.
/// </summary>
public sealed class UpgradeRequestTests : IAsyncLifetime
{
    private const string Token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0In0.c2lnbmF0dXJl";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fastws-loadgen-upgrade-" + Guid.NewGuid().ToString("N"));
    private readonly UpgradePeer _peer = new();

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _peer.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Runs <c>connect -n N --channels 0 --hold 0</c> against the peer and returns what it saw of each connection.</summary>
    private async Task<CapturedConnection[]> ConnectAsync(int connections, string url, params string[] args)
    {
        int exitCode = await Program.Main(
            ["connect", "-u", url, "-n", connections.ToString(System.Globalization.CultureInfo.InvariantCulture), "--channels", "0", "--hold", "0", "--no-progress", "--report", Path.Combine(_dir, "report"), .. args])
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Program.ExitOk, exitCode);
        CapturedConnection[] seen = await _peer.WaitForAsync(connections);
        Assert.Equal(connections, seen.Length);
        return seen;
    }

    private string ReportText(string file) => File.ReadAllText(Path.Combine(_dir, "report", file));

    [Fact]
    public async Task Header_mode_sends_an_authorization_bearer_header_and_nothing_else_changes()
    {
        CapturedConnection[] seen = await ConnectAsync(3, _peer.Url(), "--token", Token);

        foreach (CapturedConnection c in seen)
        {
            Assert.Equal("GET /ws HTTP/1.1", c.RequestLine);
            Assert.Equal("Bearer " + Token, c.Header("Authorization"));
            Assert.Contains("\r\nAuthorization: Bearer " + Token + "\r\n", c.RequestHead, StringComparison.Ordinal);
            Assert.EndsWith("\r\n\r\n", c.RequestHead, StringComparison.Ordinal);
            Assert.Equal("13", c.Header("Sec-WebSocket-Version"));
            Assert.Equal("<Close>", c.FirstText); // no auth message: the first frame is the close at the end
        }

        // The reports record the mode, never the token.
        using JsonDocument summary = JsonDocument.Parse(ReportText("summary.json"));
        Assert.Equal("fixed", summary.RootElement.GetProperty("token").GetProperty("kind").GetString());
        Assert.Equal("header", summary.RootElement.GetProperty("token").GetProperty("in").GetString());
        Assert.StartsWith("fixed (--token)", summary.RootElement.GetProperty("settings").GetProperty("token").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Token, ReportText("summary.json"), StringComparison.Ordinal);
        Assert.DoesNotContain(Token, ReportText("report.html"), StringComparison.Ordinal);
        Assert.Contains("in header", ReportText("report.html"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Url_mode_appends_the_percent_encoded_token_to_the_query_already_there()
    {
        CapturedConnection[] seen = await ConnectAsync(2, _peer.Url("/ws?room=1"), "--token", "a+b/c=d", "--token-in", "url");

        foreach (CapturedConnection c in seen)
        {
            Assert.Equal("GET /ws?room=1&token=a%2Bb%2Fc%3Dd HTTP/1.1", c.RequestLine);
            Assert.Null(c.Header("Authorization"));
            Assert.Equal("<Close>", c.FirstText);
        }

        Assert.DoesNotContain("a+b/c=d", ReportText("summary.json"), StringComparison.Ordinal);
        Assert.DoesNotContain("a%2Bb", ReportText("summary.json"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Url_mode_starts_the_query_when_there_is_none_and_follows_a_url_subscribe()
    {
        CapturedConnection[] seen = await ConnectAsync(1, _peer.Url(), "--token", Token, "--token-in", "url");
        Assert.Equal($"GET /ws?token={Token} HTTP/1.1", seen[0].RequestLine);

        // With ?subscribe= the tool waits for an ack this peer never sends, so that case is checked on the writer itself.
        var request = new byte[8192];
        int length = Net.ClientHandshake.WriteRequest(request, "127.0.0.1:1", "/ws?subscribe=bench:1", Net.ClientHandshake.NewKey(), PreparedToken.Create(Token, TokenPlacement.Url));
        Assert.StartsWith($"GET /ws?subscribe=bench:1&token={Token} HTTP/1.1\r\n", Encoding.ASCII.GetString(request, 0, length), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Message_mode_sends_the_auth_message_as_the_first_frame_after_the_101()
    {
        CapturedConnection[] seen = await ConnectAsync(3, _peer.Url(), "--token", Token, "--token-in", "message");

        foreach (CapturedConnection c in seen)
        {
            Assert.Equal("GET /ws HTTP/1.1", c.RequestLine);
            Assert.Null(c.Header("Authorization"));
            Assert.Equal($"{{\"type\":\"auth\",\"token\":\"{Token}\"}}", c.FirstText);
        }
    }

    [Fact]
    public async Task A_token_file_gives_connection_i_line_i_mod_n()
    {
        string file = Path.Combine(_dir, "tokens.txt");
        File.WriteAllLines(file, ["token.zero.0", "token.one.1", "token.two.2"]);

        CapturedConnection[] seen = await ConnectAsync(7, _peer.Url(), "--token-file", file);

        // Connections open concurrently, so the order of arrival is not the order of ids; the counts are: 0..6 mod 3.
        Dictionary<string, int> counts = seen.GroupBy(c => c.Header("Authorization")!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, counts["Bearer token.zero.0"]);
        Assert.Equal(2, counts["Bearer token.one.1"]);
        Assert.Equal(2, counts["Bearer token.two.2"]);
    }

    [Fact]
    public async Task Minted_es256_tokens_reach_the_peer_one_per_connection_and_validate()
    {
        Assert.Equal(Program.ExitOk, KeyGen.Run(_dir, force: false));

        CapturedConnection[] seen = await ConnectAsync(
            4,
            _peer.Url(),
            "--mint-token", "es256", "--mint-key", Path.Combine(_dir, "key.pem"), "--mint-subject", "bench-user-",
            "--mint-issuer", "loadgen-test", "--mint-audience", "fastws", "--mint-lifetime", "10m", "--token-in", "url");

        ECDsaSecurityKey publicKey = TokenMintingTests.PublicKey(Path.Combine(_dir, "pub.pem"));
        var handler = new JsonWebTokenHandler();
        var subjects = new List<string>();
        foreach (CapturedConnection c in seen)
        {
            string query = c.RequestLine.Split(' ')[1];
            Assert.StartsWith("/ws?token=", query, StringComparison.Ordinal);
            string token = Uri.UnescapeDataString(query["/ws?token=".Length..]);
            TokenValidationResult result = await handler.ValidateTokenAsync(token, TokenMintingTests.Parameters(publicKey, SecurityAlgorithms.EcdsaSha256, "loadgen-test", "fastws"));
            Assert.True(result.IsValid, result.Exception?.Message);
            Assert.InRange(result.SecurityToken.ValidTo, DateTime.UtcNow.AddMinutes(9), DateTime.UtcNow.AddMinutes(11));
            subjects.Add(((JsonWebToken)result.SecurityToken).Subject);
        }

        Assert.Equal(["bench-user-0", "bench-user-1", "bench-user-2", "bench-user-3"], subjects.Order(StringComparer.Ordinal));
        using JsonDocument summary = JsonDocument.Parse(ReportText("summary.json"));
        Assert.Equal("es256", summary.RootElement.GetProperty("token").GetProperty("kind").GetString());
        Assert.Equal("url", summary.RootElement.GetProperty("token").GetProperty("in").GetString());
    }

    [Fact]
    public async Task Without_a_token_the_request_is_what_it_was()
    {
        CapturedConnection[] seen = await ConnectAsync(1, _peer.Url());

        Assert.Equal("GET /ws HTTP/1.1", seen[0].RequestLine);
        Assert.Null(seen[0].Header("Authorization"));
        Assert.Equal("<Close>", seen[0].FirstText);
        Assert.Equal(
            ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "User-Agent"],
            seen[0].RequestHead.Split("\r\n").Skip(1).Where(l => l.Length > 0).Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]));
        using JsonDocument summary = JsonDocument.Parse(ReportText("summary.json"));
        Assert.Equal("none", summary.RootElement.GetProperty("token").GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, summary.RootElement.GetProperty("token").GetProperty("in").ValueKind);
    }
}
