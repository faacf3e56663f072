using System.Security.Cryptography;
using System.Text;
using FastWs.LoadGen.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// Minted tokens are what a server configured with the same secret or the matching public key accepts: each is
/// validated here with <see cref="JsonWebTokenHandler.ValidateTokenAsync(string, TokenValidationParameters)"/>, the
/// way the server validates them, and carries its own subject, the issuer, the audience and the lifetime asked for.
/// </summary>
public sealed class TokenMintingTests : IDisposable
{
    private const string Secret = "a shared secret of at least 32 bytes, for HS256";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fastws-loadgen-mint-" + Guid.NewGuid().ToString("N"));

    public TokenMintingTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static TokenValidationParameters Parameters(SecurityKey key, string algorithm, string? issuer, string? audience) => new()
    {
        IssuerSigningKey = key,
        ValidAlgorithms = [algorithm],
        ValidateIssuer = issuer is not null,
        ValidIssuer = issuer,
        ValidateAudience = audience is not null,
        ValidAudience = audience,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        ClockSkew = TimeSpan.Zero,
    };

    /// <summary>The public half of a keygen pair, as the server would load FastWs:Auth:Jwt:PublicKeyFiles:0.</summary>
    internal static ECDsaSecurityKey PublicKey(string pubPem)
    {
        var ecdsa = ECDsa.Create();
        ecdsa.ImportFromPem(File.ReadAllText(pubPem));
        return new ECDsaSecurityKey(ecdsa);
    }

    private static TokenPlan Plan(TokenArgs args)
    {
        (TokenPlan? plan, string? error) = args.Validate();
        Assert.True(plan is not null, error);
        return plan;
    }

    /// <summary>Validates every token and returns their subjects in order.</summary>
    private static async Task<string[]> ValidateAllAsync(IReadOnlyList<string> tokens, TokenValidationParameters parameters, string alg, DateTime expectedExpiry)
    {
        var handler = new JsonWebTokenHandler();
        var subjects = new string[tokens.Count];
        for (int i = 0; i < tokens.Count; i++)
        {
            TokenValidationResult result = await handler.ValidateTokenAsync(tokens[i], parameters);
            Assert.True(result.IsValid, $"token {i}: {result.Exception?.Message}");
            var jwt = (JsonWebToken)result.SecurityToken;
            Assert.Equal(alg, jwt.Alg);
            Assert.InRange(jwt.ValidTo, expectedExpiry.AddSeconds(-10), expectedExpiry.AddSeconds(10));
            Assert.True(jwt.ValidFrom <= DateTime.UtcNow, "nbf is not in the future");
            subjects[i] = jwt.Subject;
        }

        return subjects;
    }

    [Fact]
    public async Task Hs256_tokens_validate_against_the_secret_with_a_subject_each_and_the_issuer_audience_and_lifetime()
    {
        TokenPlan plan = Plan(new TokenArgs { Mint = "hs256", MintSecret = Secret, MintIssuer = "fastws-test", MintAudience = "fastws", MintLifetime = "30m" });
        DateTime now = DateTime.UtcNow;

        string[] tokens = TokenMinter.Mint(plan.Kind, plan.Mint!, 50, now);

        var key = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret));
        string[] subjects = await ValidateAllAsync(tokens, Parameters(key, SecurityAlgorithms.HmacSha256, "fastws-test", "fastws"), "HS256", now.AddMinutes(30));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => "loadgen-" + i), subjects);
        Assert.Equal(50, tokens.Distinct().Count());

        // And not against another secret, issuer or audience.
        var handler = new JsonWebTokenHandler();
        var otherKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes("another secret of at least 32 bytes, nope"));
        Assert.False((await handler.ValidateTokenAsync(tokens[0], Parameters(otherKey, SecurityAlgorithms.HmacSha256, "fastws-test", "fastws"))).IsValid);
        Assert.False((await handler.ValidateTokenAsync(tokens[0], Parameters(key, SecurityAlgorithms.HmacSha256, "someone-else", "fastws"))).IsValid);
        Assert.False((await handler.ValidateTokenAsync(tokens[0], Parameters(key, SecurityAlgorithms.HmacSha256, "fastws-test", "other"))).IsValid);
    }

    [Fact]
    public async Task Es256_tokens_validate_against_the_public_key_of_a_keygen_pair()
    {
        Assert.Equal(Program.ExitOk, KeyGen.Run(_dir, force: false));
        TokenPlan plan = Plan(new TokenArgs { Mint = "es256", MintKey = Path.Combine(_dir, "key.pem"), MintSubject = "user-" });
        DateTime now = DateTime.UtcNow;

        string[] tokens = TokenMinter.Mint(plan.Kind, plan.Mint!, 20, now);
        // A second run in the same process with the same key (no signature provider cached with a disposed key).
        string[] again = TokenMinter.Mint(plan.Kind, plan.Mint!, 2, now);

        ECDsaSecurityKey publicKey = PublicKey(Path.Combine(_dir, "pub.pem"));
        string[] subjects = await ValidateAllAsync([.. tokens, .. again], Parameters(publicKey, SecurityAlgorithms.EcdsaSha256, null, null), "ES256", now.AddHours(1));
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => "user-" + i), "user-0", "user-1"], subjects);

        // No iss/aud claims when none were asked for.
        var jwt = new JsonWebToken(tokens[0]);
        Assert.False(jwt.TryGetPayloadValue("iss", out object _));
        Assert.False(jwt.TryGetPayloadValue("aud", out object _));

        // Another key pair's public key does not validate them.
        string other = Path.Combine(_dir, "other");
        Assert.Equal(Program.ExitOk, KeyGen.Run(other, force: false));
        Assert.False((await new JsonWebTokenHandler().ValidateTokenAsync(tokens[0], Parameters(PublicKey(Path.Combine(other, "pub.pem")), SecurityAlgorithms.EcdsaSha256, null, null))).IsValid);
    }

    [Fact]
    public void Keygen_does_not_overwrite_a_pair_without_force_and_keeps_the_private_key_private()
    {
        Assert.Equal(Program.ExitOk, KeyGen.Run(_dir, force: false));
        string before = File.ReadAllText(Path.Combine(_dir, "key.pem"));

        Assert.Equal(Program.ExitFatal, KeyGen.Run(_dir, force: false));
        Assert.Equal(before, File.ReadAllText(Path.Combine(_dir, "key.pem")));
        Assert.Equal(Program.ExitOk, KeyGen.Run(_dir, force: true));
        Assert.NotEqual(before, File.ReadAllText(Path.Combine(_dir, "key.pem")));

        Assert.StartsWith("-----BEGIN EC PRIVATE KEY-----", File.ReadAllText(Path.Combine(_dir, "key.pem")), StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", File.ReadAllText(Path.Combine(_dir, "pub.pem")), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "key.pem")));
        }
    }

    [Fact]
    public void Connections_get_token_i_mod_n_and_publishers_come_after_the_subscribers()
    {
        TokenPlan minted = Plan(new TokenArgs { Mint = "hs256", MintSecret = Secret });
        ConnectionTokens tokens = ConnectionTokens.Prepare(minted, subscriberSlots: 3, publisherSlots: 2, DateTime.UtcNow)!;
        Assert.Equal(5, tokens.Count);

        string Subject(int id) => new JsonWebToken(tokens.For(id).RequestText!).Subject;
        Assert.Equal(["loadgen-0", "loadgen-1", "loadgen-2"], new[] { Subject(0), Subject(1), Subject(2) });
        Assert.Equal("loadgen-3", Subject(-1)); // publisher 0
        Assert.Equal("loadgen-4", Subject(-2)); // publisher 1

        TokenPlan file = new(TokenKind.File, TokenPlacement.Url, ["a+b", "c/d"]);
        ConnectionTokens fromFile = ConnectionTokens.Prepare(file, subscriberSlots: 5, publisherSlots: 1, DateTime.UtcNow)!;
        Assert.Equal(["a%2Bb", "c%2Fd", "a%2Bb", "c%2Fd"], Enumerable.Range(0, 4).Select(i => fromFile.For(i).RequestText));
        Assert.Equal("c%2Fd", fromFile.For(-1).RequestText); // publisher 0 = connection 5 → line 5 mod 2

        Assert.Null(ConnectionTokens.Prepare(TokenPlan.NoTokens, 10, 1, DateTime.UtcNow));
    }
}
