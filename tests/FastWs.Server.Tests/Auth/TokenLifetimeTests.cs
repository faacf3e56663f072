using System.Net.WebSockets;
using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Server.Tests.Auth;

/// <summary>Expiry warning, refresh, 4002, a refresh for another user, a refresh that loses a role, and JWKS key rotation.</summary>
public sealed class TokenLifetimeTests
{
    private static void Configure(FastWsOptions options, TokenFactory tokens)
    {
        tokens.Configure(options);
        options.Auth.Jwt.ClockSkew = TimeSpan.Zero;
        options.Auth.ExpiryWarning = TimeSpan.FromSeconds(2);
        options.Namespaces["vip"] = new NamespaceOptions { Subscribe = AccessPolicy.Role("vip") };
    }

    [Fact]
    public async Task A_connection_is_warned_before_its_token_expires_and_closed_with_4002_when_it_does()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(lifetime: TimeSpan.FromSeconds(4)), "subscribe=price:SOL");
        await client.ReceiveTypeAsync("subscribed");

        JsonElement warning = await client.ReceiveTypeAsync("token_expiring", TimeSpan.FromSeconds(6));
        Assert.InRange(warning.GetProperty("in").GetInt64(), 1, 2);

        await client.AssertClosedWithAsync(AuthKit.TokenExpired, TimeSpan.FromSeconds(6));
        Assert.Equal("token expired", client.CloseDescription);
        // Counted once the close frame is out, so the count may trail the client's view by a moment.
        await WaitForAsync(() => server.State.Metrics.TokenExpiries == 1);
        await WaitForAsync(() => server.State.Metrics.ClosesWithCode(AuthCloseCode.TokenExpired) == 1);
    }

    [Fact]
    public async Task A_refreshed_token_for_the_same_user_keeps_the_connection_and_its_subscriptions()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(lifetime: TimeSpan.FromSeconds(3)), "subscribe=price:SOL");
        await client.ReceiveTypeAsync("subscribed");
        await client.ReceiveTypeAsync("token_expiring", TimeSpan.FromSeconds(5));

        // Same user, checksummed address spelling: the same 0x address.
        string sameUser = TokenFactory.Alice.ToUpperInvariant().Replace("0X", "0x", StringComparison.Ordinal);
        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create(sameUser, SecurityAlgorithms.EcdsaSha256)}}","id":2}""");
        JsonElement ack = await client.ReceiveTypeAsync("authenticated");
        Assert.InRange(ack.GetProperty("expiresIn").GetInt64(), 3500, 3600);

        await Task.Delay(TimeSpan.FromSeconds(3.5)); // past the first token's expiry
        Assert.Equal(WebSocketState.Open, client.Socket.State);
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":2}""");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":2}}""", await client.ReceiveAsync());
        Assert.Equal(1, server.State.Metrics.TokenRefreshes);
        Assert.Equal(0, server.State.Metrics.TokenExpiries);
    }

    [Fact]
    public async Task A_refreshed_token_for_another_user_is_closed_with_4001()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(TokenFactory.Alice));

        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create(TokenFactory.Bob)}}"}""");

        Assert.Contains("different user", await AuthKit.AssertRefusedAsync(client), StringComparison.Ordinal);
        Assert.Equal(1, server.State.Metrics.AuthFailureCount(AuthFailure.UserChanged));
    }

    [Fact]
    public async Task A_refresh_that_loses_a_role_removes_the_subscriptions_that_needed_it()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o => Configure(o, tokens));
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create(roles: ["vip", "trader"]), "subscribe=vip:lounge,price:SOL");
        Assert.Equal(2, (await client.ReceiveTypeAsync("subscribed")).GetProperty("channels").GetArrayLength());

        await client.SendAsync($$"""{"type":"auth","token":"{{tokens.Create(roles: ["trader"])}}"}""");

        await client.ReceiveTypeAsync("authenticated");
        JsonElement removed = await client.ReceiveTypeAsync("unsubscribed");
        Assert.Equal(["vip:lounge"], removed.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        Assert.Contains("no longer allows", removed.GetProperty("reason").GetString(), StringComparison.Ordinal);

        await server.Server.Publisher.PublishAsync("vip:lounge", "1");
        await server.Server.Publisher.PublishAsync("price:SOL", "2");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":2}""", await client.ReceiveAsync());
        Assert.True(!server.State.Channels.TryGet("vip:lounge", out FastWs.Server.Channels.Channel? lounge) || lounge.SubscriberCount == 0);
    }

    [Fact]
    public async Task Rewriting_the_jwks_file_rotates_keys_without_a_restart()
    {
        using var tokens = new TokenFactory();
        using var oldKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var newKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        string jwks = tokens.WriteJwks("jwks.json", ("2026-old", oldKey));
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Auth.Jwt.JwksFile = jwks;
            o.Auth.Jwt.Issuer = TokenFactory.Issuer;
        });
        string OldToken() => tokens.Create(alg: SecurityAlgorithms.EcdsaSha256, kid: "2026-old", key: new ECDsaSecurityKey(oldKey));
        string NewToken() => tokens.Create(alg: SecurityAlgorithms.EcdsaSha256, kid: "2026-new", key: new ECDsaSecurityKey(newKey));

        await using (TestClient before = await AuthKit.ConnectWithQueryAsync(server, OldToken()))
        {
            await AuthKit.AssertIsUserAsync(before, TokenFactory.Alice);
        }

        await using (TestClient early = await AuthKit.ConnectWithQueryAsync(server, NewToken()))
        {
            Assert.Contains("unknown signing key", await AuthKit.AssertRefusedAsync(early), StringComparison.Ordinal);
        }

        // Both keys during the overlap, then only the new one.
        tokens.WriteJwks("jwks.json", ("2026-old", oldKey), ("2026-new", newKey));
        await using (TestClient overlap = await AuthKit.ConnectWithQueryAsync(server, NewToken()))
        {
            await AuthKit.AssertIsUserAsync(overlap, TokenFactory.Alice);
        }

        tokens.WriteJwks("jwks.json", ("2026-new", newKey));
        await using (TestClient retired = await AuthKit.ConnectWithQueryAsync(server, OldToken()))
        {
            Assert.Contains("unknown signing key", await AuthKit.AssertRefusedAsync(retired), StringComparison.Ordinal);
        }

        // A broken rewrite keeps the keys the server had.
        tokens.Write("jwks.json", "{\"keys\":[");
        await using TestClient afterBadWrite = await AuthKit.ConnectWithQueryAsync(server, NewToken());
        await AuthKit.AssertIsUserAsync(afterBadWrite, TokenFactory.Alice);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
