using FastWs.Client.Tests.TestSupport;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>Tokens: each transport, no reconnect loop on 4001 until the token changes, and token_expiring answered by RefreshToken.</summary>
public sealed class AuthTests
{
    private static Action<FastWsOptions> WithTokens(TokenFactory tokens, TimeSpan? expiryWarning = null) => options =>
    {
        tokens.Configure(options);
        options.Auth.Jwt.ClockSkew = TimeSpan.Zero;
        if (expiryWarning is { } warning)
        {
            options.Auth.ExpiryWarning = warning;
        }
    };

    [Theory]
    [InlineData(TokenTransport.Header)]
    [InlineData(TokenTransport.Message)]
    [InlineData(TokenTransport.Query)]
    [InlineData(TokenTransport.Subprotocol)]
    public async Task A_token_in_each_transport_makes_the_connection_its_users(TokenTransport transport)
    {
        using var tokens = new TokenFactory();
        await using Harness harness = await Harness.StartAsync(WithTokens(tokens));
        await using FastWsClient client = harness.Client(o =>
        {
            o.Token = tokens.Create(TokenFactory.Alice);
            o.TokenTransport = transport;
        });

        // user:<address> is open only to that user: the ack proves the server took the token.
        FastWsSubscription own = await client.SubscribeAsync("user:" + TokenFactory.Alice);
        Assert.Equal(0, own.Position!.Value.Seq);
        Assert.Equal(1, harness.Server.State.Metrics.AuthSuccesses);
    }

    [Fact]
    public async Task A_refused_token_stops_the_client_without_a_reconnect_loop_until_SetToken_gives_a_new_one()
    {
        using var tokens = new TokenFactory();
        await using Harness harness = await Harness.StartAsync(WithTokens(tokens));
        await using FastWsClient client = harness.Client(o => o.Token = tokens.Create(TokenFactory.Alice, issuer: "https://someone-else.test"));
        var closes = new List<FastWsClosedEventArgs>();
        var errors = new List<FastWsException>();
        client.Closed += (_, e) => { lock (closes) { closes.Add(e); } };
        client.Error += (_, e) => { lock (errors) { errors.Add(e.Error); } };

        FastWsException refused = await Assert.ThrowsAsync<FastWsException>(() => client.ConnectAsync());
        Assert.Equal("auth_failed", refused.Code);
        Assert.Contains("4001", refused.Message, StringComparison.Ordinal);
        Assert.Equal(FastWsClientState.WaitingForToken, client.State);

        await Task.Delay(1000); // with a backoff of at most 300 ms, a loop would have made several more connections
        Assert.Equal(1, harness.Server.State.Metrics.AuthFailuresTotal);
        Assert.Equal(1, harness.Proxy.Accepted);
        lock (closes)
        {
            FastWsClosedEventArgs close = Assert.Single(closes);
            Assert.Equal(4001, close.Code);
            Assert.False(close.WillReconnect);
        }

        client.SetToken(tokens.Create(TokenFactory.Alice));
        await TestServer.WaitUntilAsync(() => client.IsConnected, "the client to connect with the new token");
        await client.SubscribeAsync("user:" + TokenFactory.Alice);
        Assert.Equal(2, harness.Proxy.Accepted);
        Assert.Equal(1, harness.Server.State.Metrics.AuthSuccesses);
    }

    [Fact]
    public async Task A_refresh_callback_that_returns_the_refused_token_does_not_loop_either()
    {
        using var tokens = new TokenFactory();
        await using Harness harness = await Harness.StartAsync(WithTokens(tokens));
        string bad = tokens.Create(TokenFactory.Alice, audience: "another-audience");
        int asked = 0;
        await using FastWsClient client = harness.Client(o =>
        {
            o.Token = bad;
            o.RefreshToken = (reason, _) =>
            {
                Assert.Equal(TokenRefreshReason.Rejected, reason);
                Interlocked.Increment(ref asked);
                return ValueTask.FromResult<string?>(bad);
            };
        });

        await Assert.ThrowsAsync<FastWsException>(() => client.ConnectAsync());
        await Task.Delay(500);
        Assert.Equal(1, asked);
        Assert.Equal(1, harness.Proxy.Accepted);
        Assert.Equal(FastWsClientState.WaitingForToken, client.State);
    }

    [Fact]
    public async Task Token_expiring_is_answered_through_RefreshToken_and_the_connection_stays()
    {
        using var tokens = new TokenFactory();
        // Warned at once: the token's whole life is within the warning time.
        await using Harness harness = await Harness.StartAsync(WithTokens(tokens, expiryWarning: TimeSpan.FromMinutes(30)));
        var reasons = new List<TokenRefreshReason>();
        await using FastWsClient client = harness.Client(o =>
        {
            o.Token = tokens.Create(TokenFactory.Alice, lifetime: TimeSpan.FromMinutes(10));
            o.RefreshToken = (reason, _) =>
            {
                lock (reasons)
                {
                    reasons.Add(reason);
                }

                return ValueTask.FromResult<string?>(tokens.Create(TokenFactory.Alice, lifetime: TimeSpan.FromHours(1)));
            };
        });
        FastWsSubscription own = await client.SubscribeAsync("user:" + TokenFactory.Alice);

        await TestServer.WaitUntilAsync(() => harness.Server.State.Metrics.TokenRefreshes == 1, "the refreshed token to reach the server");
        lock (reasons)
        {
            Assert.Equal([TokenRefreshReason.Expiring], reasons);
        }

        Assert.True(client.IsConnected);
        await harness.Server.Server.Publisher.PublishAsync("user:" + TokenFactory.Alice, """{"n":1}""");
        Assert.Equal(1, (await Harness.TakeAsync(own, 1))[0].Seq);
        Assert.Equal(1, harness.Server.State.Metrics.ConnectionsTotal);
    }
}
