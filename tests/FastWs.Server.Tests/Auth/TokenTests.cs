using System.Net.WebSockets;
using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Tests.TestSupport;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Server.Tests.Auth;

/// <summary>
/// Tokens on connect against the real server with .NET's ClientWebSocket: every accepted algorithm, every place a
/// token can come from, and every kind of bad token, which gets 4001 with a reason and never an anonymous connection.
/// </summary>
public sealed class TokenTests
{
    [Theory]
    [InlineData(SecurityAlgorithms.HmacSha256)]
    [InlineData(SecurityAlgorithms.HmacSha384)]
    [InlineData(SecurityAlgorithms.HmacSha512)]
    [InlineData(SecurityAlgorithms.RsaSha256)]
    [InlineData(SecurityAlgorithms.RsaSha384)]
    [InlineData(SecurityAlgorithms.RsaSha512)]
    [InlineData(SecurityAlgorithms.RsaSsaPssSha256)]
    [InlineData(SecurityAlgorithms.EcdsaSha256)]
    [InlineData(SecurityAlgorithms.EcdsaSha384)]
    public async Task Every_accepted_algorithm_identifies_the_user(string alg)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, tokens.Create(TokenFactory.Alice, alg));

        await AuthKit.AssertIsUserAsync(client, TokenFactory.Alice);
        Assert.Equal(1, server.State.Metrics.AuthSuccesses);
    }

    [Fact]
    public async Task An_hmac_secret_alone_accepts_hs256_without_issuer_or_audience_checks()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => o.Auth.Jwt.HmacSecret = TokenFactory.Secret);
        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, tokens.Create(issuer: "anyone", audience: "anything"));

        await AuthKit.AssertIsUserAsync(client, TokenFactory.Alice);
    }

    [Fact]
    public async Task The_seed_url_form_authenticates_and_subscribes_in_one_step()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        string token = tokens.Create();
        await using TestClient client = await server.ConnectAsync($"token={token}&subscribe=market_data,intent:0x123");

        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["market_data", "intent:0x123"], ack.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
    }

    [Fact]
    public async Task A_bearer_header_authenticates()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(TokenFactory.Bob, SecurityAlgorithms.EcdsaSha256));

        await AuthKit.AssertIsUserAsync(client, TokenFactory.Bob);
    }

    [Fact]
    public async Task A_bearer_subprotocol_authenticates_and_only_fastws_v1_is_echoed()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o =>
        {
            o.AddSubProtocol(UpgradeCredentials.ProtocolName);
            o.AddSubProtocol(UpgradeCredentials.BearerPrefix + tokens.Create());
        });

        Assert.Equal("fastws.v1", client.Socket.SubProtocol);
        await AuthKit.AssertIsUserAsync(client, TokenFactory.Alice);
    }

    [Fact]
    public async Task A_first_auth_message_authenticates_and_is_acknowledged()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}","id":"a1"}""");

        JsonElement ack = await client.ReceiveTypeAsync("authenticated");
        Assert.Equal(TokenFactory.Alice, ack.GetProperty("user").GetString());
        Assert.Equal("a1", ack.GetProperty("id").GetString());
        Assert.InRange(ack.GetProperty("expiresIn").GetInt64(), 3500, 3600);
        await AuthKit.AssertIsUserAsync(client, TokenFactory.Alice);
    }

    [Fact]
    public async Task Without_a_token_a_connection_is_anonymous_and_public_channels_work()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Auth.Timeout = TimeSpan.FromMilliseconds(500);
        });
        await using TestClient client = await server.ConnectAsync();

        Assert.True((await AuthKit.TrySubscribeAsync(client, "market_data")).Subscribed);

        // A channel that needs a user waits for a token (not acked), and is refused when the wait ends.
        await client.SendAsync($$"""{"type":"subscribe","channels":["user:{{TokenFactory.Alice}}"],"id":2}""");
        Assert.Empty((await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray());
        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", error.GetProperty("code").GetString());

        // After the wait, refusals are immediate.
        (bool subscribed, JsonElement refusal) = await AuthKit.TrySubscribeAsync(client, "intent:1", id: 3);
        Assert.False(subscribed);
        Assert.Contains("rule Authenticated", refusal.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    public static TheoryData<string, string> BadTokens() => new()
    {
        { "bad_signature", "bad signature" },
        { "alg_none", "alg none" },
        { "unknown_kid", "unknown signing key" },
        { "wrong_issuer", "wrong issuer" },
        { "wrong_audience", "wrong audience" },
        { "expired", "expired" },
        { "not_yet_valid", "not yet valid" },
        { "malformed", "malformed" },
        { "too_large", "too large" },
        { "missing_user_claim", "no user claim" },
        { "empty", "malformed" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task A_bad_token_in_the_url_is_closed_with_4001_naming_the_problem(string kind, string reason)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => ConfigureForBadTokens(o, tokens));
        string token = BadToken(tokens, kind);

        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, token, "subscribe=market_data");

        string closeReason = await AuthKit.AssertRefusedAsync(client);
        Assert.Contains(reason, closeReason, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(token.Length > 0 ? token : "\u0000", closeReason, StringComparison.Ordinal);
        Assert.Equal(0, server.State.Metrics.SubscriptionChanges); // never served as anonymous, not even the public channel
        Assert.Equal(0, server.State.Metrics.ConnectionsActive);
        string name = kind == "empty" ? "malformed" : kind;
        Assert.Equal(1, server.State.Metrics.AuthFailureCount(Enum.GetValues<AuthFailure>().Single(f => AuthFailures.Name(f) == name)));
    }

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task A_bad_token_in_an_auth_message_is_closed_with_4001(string kind, string reason)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => ConfigureForBadTokens(o, tokens));
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync(JsonSerializer.Serialize(new { type = "auth", token = BadToken(tokens, kind) }));

        Assert.Contains(reason, await AuthKit.AssertRefusedAsync(client), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_bad_bearer_header_or_subprotocol_is_closed_with_4001()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        string forged = tokens.Create(key: new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(new byte[32]));

        await using TestClient header = await AuthKit.ConnectWithHeaderAsync(server, forged);
        Assert.Contains("bad signature", await AuthKit.AssertRefusedAsync(header), StringComparison.Ordinal);

        await using TestClient subprotocol = await TestClient.ConnectAsync(server.WebSocketUri, o =>
        {
            o.AddSubProtocol("fastws.v1");
            o.AddSubProtocol("bearer." + forged);
        });
        Assert.Contains("bad signature", await AuthKit.AssertRefusedAsync(subprotocol), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("roles", false)]
    [InlineData("roles", true)]
    [InlineData("scope_roles", true)]
    public async Task Roles_come_from_the_configured_claim_as_an_array_or_one_string(string claim, bool single)
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Auth.Jwt.RolesClaim = claim;
            o.Namespaces["vip"] = new Hosting.NamespaceOptions { Subscribe = AccessPolicy.Role("vip") };
        });
        object roles = single ? "vip" : new[] { "trader", "vip" };
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(extraClaims: new Dictionary<string, object> { [claim] = roles }));

        Assert.True((await AuthKit.TrySubscribeAsync(client, "vip:lounge")).Subscribed);
    }

    [Fact]
    public async Task An_oversized_token_in_the_url_gets_4001_with_the_default_limits()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        string token = tokens.Create(extraClaims: new Dictionary<string, object> { ["pad"] = new string('x', 4000) });
        Assert.InRange(token.Length, 4097, 7000);

        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, token);

        Assert.Equal("Invalid token: too large", await AuthKit.AssertRefusedAsync(client));
    }

    [Fact]
    public async Task A_token_on_a_server_without_keys_is_refused_rather_than_ignored()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, tokens.Create());

        Assert.Contains("no signing key configured", await AuthKit.AssertRefusedAsync(client), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_token_costs_no_connection_slot_and_other_clients_are_unaffected()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Limits.MaxConnections = 2;
        });
        await using TestClient good = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(), "subscribe=price:SOL");
        await good.ReceiveTypeAsync("subscribed");

        for (int i = 0; i < 5; i++)
        {
            await using TestClient bad = await AuthKit.ConnectWithQueryAsync(server, TokenFactory.Unsigned());
            await AuthKit.AssertRefusedAsync(bad);
        }

        await using TestClient second = await server.ConnectAsync();
        Assert.True((await AuthKit.TrySubscribeAsync(second, "market_data")).Subscribed);
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":1}""");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":1}}""", await good.ReceiveAsync());
        Assert.Equal(5, server.State.Metrics.AuthFailureCount(AuthFailure.AlgNone));
        Assert.Equal(5, server.State.Metrics.ClosesWithCode(AuthCloseCode.InvalidToken));
    }

    [Fact]
    public async Task With_auth_required_a_connection_without_a_token_in_time_is_closed_with_4001()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Auth.Required = true;
            o.Auth.Timeout = TimeSpan.FromMilliseconds(600);
        });
        await using TestClient silent = await server.ConnectAsync("subscribe=market_data");

        Assert.Contains("Authentication required", await AuthKit.AssertRefusedAsync(silent), StringComparison.Ordinal);
        Assert.Equal(1, server.State.Metrics.AuthFailureCount(AuthFailure.Timeout));
    }

    [Fact]
    public async Task With_auth_required_everything_waits_for_the_first_token_and_then_applies()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Auth.Required = true;
            o.Auth.Timeout = TimeSpan.FromSeconds(5);
        });
        await using TestClient client = await server.ConnectAsync("subscribe=market_data");
        Assert.Empty((await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray());

        await client.SendAsync("""{"type":"publish","channel":"bench:x","data":1,"id":1}""");
        Assert.Equal("unauthorized", (await client.ReceiveTypeAsync("error")).GetProperty("code").GetString());

        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}"}""");
        await client.ReceiveTypeAsync("authenticated");
        JsonElement ack = await client.ReceiveTypeAsync("subscribed");
        Assert.Equal(["market_data"], ack.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        await Task.Delay(800); // past nothing: the wait ended with the token, no 4001 follows
        await client.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task Channels_needing_a_user_wait_for_the_auth_message_and_are_refused_when_none_comes()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.Auth.Timeout = TimeSpan.FromMilliseconds(800);
        });
        string mine = "user:" + TokenFactory.Alice;

        // Authenticates in time: the public channel at once, the owner's channel after the token.
        await using TestClient prompt = await server.ConnectAsync($"subscribe=market_data,{mine}");
        Assert.Equal(["market_data"], (await prompt.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        await prompt.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}"}""");
        await prompt.ReceiveTypeAsync("authenticated");
        Assert.Equal([mine], (await prompt.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray().Select(c => c.GetString()));

        // Never authenticates: stays connected and anonymous; the waiting channel is refused when the wait ends.
        await using TestClient late = await server.ConnectAsync($"subscribe=market_data,{mine}");
        await late.ReceiveTypeAsync("subscribed");
        JsonElement refusal = await late.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", refusal.GetProperty("code").GetString());
        Assert.Equal(mine, refusal.GetProperty("channel").GetString());
        Assert.Equal(WebSocketState.Open, late.Socket.State);
    }

    /// <summary>
    /// The secret and a JWKS with one EC key (no PEM keys, which are tried for any kid), issuer and audience checked,
    /// no clock skew, and a token limit the upgrade request can carry past (the request head itself may be 8 KB).
    /// </summary>
    private static void ConfigureForBadTokens(Hosting.FastWsOptions options, TokenFactory tokens)
    {
        options.Auth.Jwt.HmacSecret = TokenFactory.Secret;
        options.Auth.Jwt.JwksFile = tokens.WriteJwks("keys.json", ("k1", tokens.P256));
        options.Auth.Jwt.Issuer = TokenFactory.Issuer;
        options.Auth.Jwt.Audience = TokenFactory.Audience;
        options.Auth.Jwt.ClockSkew = TimeSpan.Zero;
        options.Auth.Jwt.MaxTokenLength = 2048;
    }

    [Fact]
    public async Task Unsubscribing_a_channel_that_waits_for_the_token_takes_it_out_of_the_wait()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure);
        string mine = "user:" + TokenFactory.Alice;
        await using TestClient client = await server.ConnectAsync($"subscribe={mine},intent:7");
        Assert.Empty((await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray());

        await client.SendAsync($$"""{"type":"unsubscribe","channels":["{{mine}}"]}""");
        await client.ReceiveTypeAsync("unsubscribed");
        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}"}""");

        await client.ReceiveTypeAsync("authenticated");
        Assert.Equal(["intent:7"], (await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(1, server.State.Channels.Count);
    }

    private static string BadToken(TokenFactory tokens, string kind) => kind switch
    {
        "bad_signature" => tokens.Create(key: new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(System.Text.Encoding.UTF8.GetBytes("another-secret-another-secret-0123456789"))),
        "alg_none" => TokenFactory.Unsigned(),
        "unknown_kid" => OnlyJwksToken(tokens),
        "wrong_issuer" => tokens.Create(issuer: "https://evil.test"),
        "wrong_audience" => tokens.Create(audience: "someone-else"),
        "expired" => tokens.Create(lifetime: TimeSpan.FromMinutes(-5)),
        "not_yet_valid" => tokens.Create(notBefore: DateTime.UtcNow.AddMinutes(10), lifetime: TimeSpan.FromHours(1)),
        "malformed" => "not.a-jwt",
        "too_large" => tokens.Create(extraClaims: new Dictionary<string, object> { ["pad"] = new string('x', 3000) }),
        "missing_user_claim" => tokens.Create(includeUser: false),
        "empty" => string.Empty,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>An ES256 token naming a kid the JWKS does not have (signed with a key the server knows under another kid).</summary>
    private static string OnlyJwksToken(TokenFactory tokens) => tokens.Create(alg: SecurityAlgorithms.EcdsaSha256, kid: "k-unknown");
}
