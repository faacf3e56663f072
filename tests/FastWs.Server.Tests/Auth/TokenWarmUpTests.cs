using FastWs.Server.Auth;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Auth;

/// <summary>The start-up warm-up checks one throwaway token per key family the server has keys for, and counts nothing.</summary>
public sealed class TokenWarmUpTests
{
    [Fact]
    public void One_throwaway_token_per_configured_key_family_is_checked_and_accepted()
    {
        using var tokens = new TokenFactory();
        var all = new JwtOptions { HmacSecret = TokenFactory.Secret, PublicKeyFiles = [tokens.RsaPublicKeyFile, tokens.P256PublicKeyFile], Issuer = "i", Audience = "a", UserClaim = "wallet" };
        Assert.Equal((3, 3), new Authenticator(new AuthOptions { Jwt = all }, [], false).WarmUp());

        var secretOnly = new JwtOptions { HmacSecret = TokenFactory.Secret };
        Assert.Equal((1, 1), new Authenticator(new AuthOptions { Jwt = secretOnly }, [], false).WarmUp());

        var jwksOnly = new JwtOptions { JwksFile = tokens.WriteJwks("jwks.json", ("k1", tokens.P256)) };
        Assert.Equal((1, 1), new Authenticator(new AuthOptions { Jwt = jwksOnly }, [], false).WarmUp());

        Assert.Equal((0, 0), new Authenticator(new AuthOptions(), [], false).WarmUp());
    }

    [Fact]
    public async Task The_servers_warm_up_leaves_the_auth_counters_at_zero()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.WarmUp = true;
        });

        Assert.Equal(0, server.State.Metrics.AuthSuccesses);
        Assert.Equal(0, server.State.Metrics.AuthFailuresTotal);
        await using TestClient client = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create());
        await AuthKit.AssertIsUserAsync(client, TokenFactory.Alice);
    }
}
