using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Auth;

/// <summary>
/// The permission matrix against the real server: every rule (the defaults of the namespaces FastWs replaces, plus
/// Role, Loopback and Nobody namespaces) × anonymous / authenticated / owner / other user / role holder, for
/// subscribing, and the publish rules over WebSocket and HTTP.
/// </summary>
public sealed class PermissionTests
{
    private const string Carol = "0x3333333333333333333333333333333333333ccc";

    /// <summary>Who connects: no token, Alice (no roles), Bob (another user), Carol (role vip).</summary>
    public enum Who
    {
        Anonymous,
        Alice,
        Bob,
        CarolVip,
        AnonymousForeignPage,
    }

    private static void Configure(FastWsOptions options, TokenFactory tokens)
    {
        tokens.Configure(options);
        options.Auth.Timeout = TimeSpan.FromMilliseconds(300);
        options.Namespaces["vip"] = new NamespaceOptions { Subscribe = AccessPolicy.Role("vip"), Publish = AccessPolicy.Role("feeder") };
        options.Namespaces["local"] = new NamespaceOptions { Subscribe = AccessPolicy.Loopback };
        options.Namespaces["closed"] = new NamespaceOptions { Subscribe = AccessPolicy.Nobody, Publish = AccessPolicy.Nobody };
    }

    public static TheoryData<string, Who, bool> SubscribeMatrix()
    {
        string alice = "user:" + TokenFactory.Alice;
        string aliceSolver = "solver:" + TokenFactory.Alice;
        var data = new TheoryData<string, Who, bool>();
        foreach (string open in new[] { "market_data", "system_alerts", "price:SOL", "trades:SOL", "funding:SOL" })
        {
            foreach (Who who in Enum.GetValues<Who>())
            {
                data.Add(open, who, true);
            }
        }

        // channel, anonymous, Alice, Bob, Carol (vip), anonymous from a foreign web page
        (string Channel, bool[] Allowed)[] rules =
        [
            ("intent:0x123", [false, true, true, true, false]),
            (alice, [false, true, false, false, false]),
            (aliceSolver, [false, true, false, false, false]),
            ("user:" + TokenFactory.Alice.ToUpperInvariant().Replace("0X", "0x", StringComparison.Ordinal), [false, true, false, false, false]),
            ("vip:lounge", [false, false, false, true, false]),
            ("local:feed", [true, true, true, true, false]),
            ("closed:x", [false, false, false, false, false]),
        ];
        foreach ((string channel, bool[] allowed) in rules)
        {
            Who[] everyone = Enum.GetValues<Who>();
            for (int i = 0; i < everyone.Length; i++)
            {
                data.Add(channel, everyone[i], allowed[i]);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SubscribeMatrix))]
    public async Task Subscribe_rules(string channel, Who who, bool allowed)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await ConnectAsAsync(server, tokens, who);
        if (who is Who.Anonymous or Who.AnonymousForeignPage)
        {
            await Task.Delay(500); // past Auth:Timeout: refusals are immediate rather than waiting for a token
        }

        (bool subscribed, JsonElement reply) = await AuthKit.TrySubscribeAsync(client, channel);

        Assert.True(allowed == subscribed, $"{who} on {channel}: expected {(allowed ? "subscribed" : "forbidden")}, got {reply}");
        if (!subscribed)
        {
            Assert.Equal("forbidden", reply.GetProperty("code").GetString());
            Assert.Contains("(rule ", reply.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("user:alice")]
    [InlineData("user:0x123")]
    [InlineData("solver:0x" + "zz11111111111111111111111111111111111111")]
    [InlineData("user")]
    public async Task Keys_that_break_the_namespace_pattern_are_invalid_channels(string channel)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create());

        (bool subscribed, JsonElement reply) = await AuthKit.TrySubscribeAsync(client, channel);

        Assert.False(subscribed);
        Assert.Equal("invalid_channel", reply.GetProperty("code").GetString());
        Assert.Contains("0x[0-9a-fA-F]{40}", reply.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, server.State.Channels.Count);
    }

    [Fact]
    public async Task A_configured_key_pattern_and_rule_come_from_settings()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure, [
            "--FastWs:Namespaces:orders:Subscribe=Role:trader",
            "--FastWs:Namespaces:orders:Publish=Nobody",
            "--FastWs:Namespaces:orders:KeyPattern=[A-Z]{3}",
        ]);
        await using TestClient trader = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(roles: ["trader"]));

        Assert.True((await AuthKit.TrySubscribeAsync(trader, "orders:SOL")).Subscribed);
        Assert.Equal("invalid_channel", (await AuthKit.TrySubscribeAsync(trader, "orders:sol", 2)).Reply.GetProperty("code").GetString());
        Assert.Equal(AccessPolicy.Role("trader"), server.State.Options.Namespaces["orders"].Subscribe);
    }

    [Fact]
    public async Task A_bad_rule_or_pattern_in_settings_stops_the_start_naming_it()
    {
        var badRule = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(args: ["--FastWs:Namespaces:orders:Subscribe=Admins"]));
        Assert.Contains("Admins", badRule.ToString(), StringComparison.Ordinal);

        var badPattern = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => TestServer.StartAsync(o => o.Namespaces["orders"] = new NamespaceOptions { KeyPattern = "[" }));
        Assert.Contains("FastWs:Namespaces:orders:KeyPattern", badPattern.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Who, bool> PublishMatrix() => new()
    {
        // Loopback (the default): a local process with or without token, not a foreign web page.
        { "bench:x", Who.Anonymous, true },
        { "bench:x", Who.Alice, true },
        { "bench:x", Who.AnonymousForeignPage, false },
        // Role:feeder.
        { "vip:x", Who.Anonymous, false },
        { "vip:x", Who.Alice, false },
        { "vip:x", Who.CarolVip, false },
        { "vip:x", Who.Bob, true }, // Bob's token below carries the feeder role
        // Nobody.
        { "closed:x", Who.Anonymous, false },
        { "closed:x", Who.Bob, false },
    };

    [Theory]
    [MemberData(nameof(PublishMatrix))]
    public async Task Publish_rules_over_websocket(string channel, Who who, bool allowed)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await ConnectAsAsync(server, tokens, who);

        await client.SendAsync($$"""{"type":"publish","channel":"{{channel}}","data":1,"id":5}""");
        JsonElement reply = await client.ReceiveJsonAsync();

        Assert.True(allowed == (reply.GetProperty("type").GetString() == "published"), $"{who} publishing to {channel}: {reply}");
        if (!allowed)
        {
            Assert.Equal("forbidden", reply.GetProperty("code").GetString());
            Assert.Contains("(rule ", reply.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(PublishMatrix))]
    public async Task Publish_rules_over_http(string channel, Who who, bool allowed)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        using var http = new HttpClient { BaseAddress = server.HttpUri };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/publish")
        {
            Content = new StringContent($$"""{"channel":"{{channel}}","data":1}""", Encoding.UTF8, "application/json"),
        };
        if (TokenFor(tokens, who) is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (who == Who.AnonymousForeignPage)
        {
            request.Headers.Add("Origin", "https://evil.example");
        }

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(allowed ? HttpStatusCode.Accepted : HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Http_publish_refuses_bad_tokens_with_401_and_non_json_bodies_with_415()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        using var http = new HttpClient { BaseAddress = server.HttpUri };

        using var forged = new HttpRequestMessage(HttpMethod.Post, "/api/publish") { Content = Json("""{"channel":"bench:x","data":1}""") };
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TokenFactory.Unsigned());
        using HttpResponseMessage unauthorized = await http.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Contains("Bearer", unauthorized.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("alg none", await unauthorized.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // What a no-cors fetch or a form from any web page would send.
        using HttpResponseMessage plain = await http.PostAsync("/api/publish", new StringContent("""{"channel":"bench:x","data":1}""", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
        using HttpResponseMessage form = await http.PostAsync("/api/publish", new FormUrlEncodedContent([new("channel", "bench:x")]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(0, server.State.Metrics.Published);
        Assert.Equal(1, server.State.Metrics.AuthFailureCount(AuthFailure.AlgNone));
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string? TokenFor(TokenFactory tokens, Who who) => who switch
    {
        Who.Alice => tokens.Create(TokenFactory.Alice),
        Who.Bob => tokens.Create(TokenFactory.Bob, roles: ["feeder"]),
        Who.CarolVip => tokens.Create(Carol, roles: ["vip"]),
        _ => null,
    };

    private static Task<TestClient> ConnectAsAsync(TestServer server, TokenFactory tokens, Who who) =>
        who == Who.AnonymousForeignPage
            ? TestClient.ConnectAsync(server.WebSocketUri, o => o.SetRequestHeader("Origin", "https://evil.example"))
            : TokenFor(tokens, who) is { } token ? AuthKit.ConnectWithHeaderAsync(server, token) : server.ConnectAsync();
}
