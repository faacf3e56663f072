using FastWs.LoadGen.Auth;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// The token options: which combinations are refused (with a message that names the options, never a token or a
/// secret), the defaults, the token file and the lifetime syntax. Validation reads the file or key, so a bad one
/// stops the run with exit code 1 before any connection.
/// </summary>
public sealed class TokenOptionsTests : IDisposable
{
    private const string Secret = "0123456789abcdef0123456789abcdef"; // exactly 32 bytes
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fastws-loadgen-tokens-" + Guid.NewGuid().ToString("N"));

    public TokenOptionsTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string KeyPair()
    {
        string dir = Path.Combine(_dir, "keys");
        Assert.Equal(Program.ExitOk, KeyGen.Run(dir, force: false));
        return dir;
    }

    /// <summary>Each bad combination and the part of the error message that must name it (the token arguments are internal types, so the theory gets an index).</summary>
    private static readonly (TokenArgs Args, string Expected)[] BadCombinationCases =
    [
        (new TokenArgs { Token = "a.b.c", Mint = "hs256", MintSecret = Secret }, "--token, --token-file and --mint-token are alternatives"),
        (new TokenArgs { Token = "a.b.c", TokenFile = "tokens.txt" }, "--token, --token-file and --mint-token are alternatives"),
        (new TokenArgs { Mint = "es256" }, "--mint-token es256 needs --mint-key FILE"),
        (new TokenArgs { Mint = "es256", MintKey = "key.pem", MintSecret = Secret }, "--mint-secret is for --mint-token hs256"),
        (new TokenArgs { Mint = "hs256" }, "--mint-token hs256 needs --mint-secret"),
        (new TokenArgs { Mint = "hs256", MintSecret = Secret, MintKey = "key.pem" }, "--mint-key is for --mint-token es256"),
        (new TokenArgs { Mint = "hs256", MintSecret = "0123456789abcdef0123456789abcde" }, "--mint-secret must be at least 32 bytes"),
        (new TokenArgs { Mint = "hs256", MintSecret = Secret, MintLifetime = "0s" }, "--mint-lifetime must be a positive duration"),
        (new TokenArgs { Mint = "hs256", MintSecret = Secret, MintLifetime = "soon" }, "--mint-lifetime must be a positive duration"),
        (new TokenArgs { MintSecret = Secret }, "--mint-secret only applies with --mint-token"),
        (new TokenArgs { MintSubject = "user-" }, "--mint-subject only applies with --mint-token"),
        (new TokenArgs { Token = "a.b.c", MintIssuer = "me" }, "--mint-issuer only applies with --mint-token"),
        (new TokenArgs { TokenIn = "url" }, "--token-in needs a token"),
        (new TokenArgs { Token = "" }, "--token: the token is empty"),
        (new TokenArgs { Token = "a.b c" }, "--token: a token must be printable ASCII without spaces"),
        (new TokenArgs { Token = "a.b\r\nX-Injected: 1" }, "--token: a token must be printable ASCII without spaces"),
        (new TokenArgs { Token = new string('a', TokenPlan.MaxTokenLength + 1) }, "longer than 4096"),
        (new TokenArgs { TokenFile = "/nonexistent/tokens.txt" }, "--token-file /nonexistent/tokens.txt: cannot read it"),
        (new TokenArgs { Mint = "es256", MintKey = "/nonexistent/key.pem" }, "--mint-key /nonexistent/key.pem: cannot read it"),
    ];

    public static TheoryData<int> BadCombinations => new(Enumerable.Range(0, BadCombinationCases.Length));

    [Theory]
    [MemberData(nameof(BadCombinations))]
    public void Bad_combinations_are_refused_with_a_clear_message(int index)
    {
        (TokenArgs args, string expected) = BadCombinationCases[index];
        (TokenPlan? plan, string? error) = args.Validate();

        Assert.Null(plan);
        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--token", "a.b.c", "--mint-token", "hs256", "--mint-secret", Secret)]
    [InlineData("--mint-token", "es256")]
    [InlineData("--mint-token", "hs256", "--mint-secret", "too-short")]
    [InlineData("--mint-token", "rs256")]
    [InlineData("--token", "a.b.c", "--token-in", "cookie")]
    [InlineData("--token-in", "message")]
    [InlineData("--mint-lifetime", "1h")]
    public async Task The_command_line_refuses_them_with_exit_code_1_before_connecting(params string[] tokenArgs)
    {
        // A connection refused later would give the same exit code: the peer checks that nothing connected at all.
        await using var peer = new TestSupport.UpgradePeer();
        foreach (string scenario in new[] { "connect", "fanout", "churn", "slow" })
        {
            int exitCode = await Program.Main([scenario, "-u", peer.Url(), "--no-progress", .. tokenArgs]).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(Program.ExitFatal, exitCode);
        }

        Assert.Empty(peer.Connections);
    }

    [Fact]
    public void Mint_defaults_are_header_placement_subject_loadgen_and_one_hour()
    {
        (TokenPlan? plan, string? error) = new TokenArgs { Mint = "hs256", MintSecret = Secret }.Validate();

        Assert.Null(error);
        Assert.NotNull(plan);
        Assert.Equal(TokenKind.Hs256, plan.Kind);
        Assert.Equal(TokenPlacement.Header, plan.Placement);
        Assert.Equal("loadgen-", plan.Mint!.SubjectPrefix);
        Assert.Equal(TimeSpan.FromHours(1), plan.Mint.Lifetime);
        Assert.Null(plan.Mint.Issuer);
        Assert.Null(plan.Mint.Audience);
        Assert.Equal("hs256", plan.KindName);
        Assert.Equal("header", plan.PlacementName);
        Assert.StartsWith("HS256 minted, 1 per connection", plan.Describe(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, plan.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Es256_takes_a_pem_private_key_and_refuses_the_public_one()
    {
        string keys = KeyPair();

        (TokenPlan? plan, string? error) = new TokenArgs { Mint = "es256", MintKey = Path.Combine(keys, "key.pem"), TokenIn = "message" }.Validate();
        Assert.Null(error);
        Assert.Equal(TokenKind.Es256, plan!.Kind);
        Assert.Equal(TokenPlacement.Message, plan.Placement);

        (plan, error) = new TokenArgs { Mint = "es256", MintKey = Path.Combine(keys, "pub.pem") }.Validate();
        Assert.Null(plan);
        Assert.Contains("not a PEM EC P-256 private key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Es256_refuses_a_key_on_another_curve()
    {
        string path = Path.Combine(_dir, "p384.pem");
        using (var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
        {
            File.WriteAllText(path, key.ExportECPrivateKeyPem());
        }

        (TokenPlan? plan, string? error) = new TokenArgs { Mint = "es256", MintKey = path }.Validate();

        Assert.Null(plan);
        Assert.Contains("not a P-256", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_file_skips_blank_lines_and_names_a_bad_line_by_number_only()
    {
        string good = Path.Combine(_dir, "good.txt");
        File.WriteAllText(good, "first.token.a\n\n  second.token.b  \r\nthird.token.c\n");
        (TokenPlan? plan, string? error) = new TokenArgs { TokenFile = good, TokenIn = "url" }.Validate();
        Assert.Null(error);
        Assert.Equal(TokenKind.File, plan!.Kind);
        Assert.Equal(["first.token.a", "second.token.b", "third.token.c"], plan.Tokens);
        Assert.Equal("url", plan.PlacementName);

        string bad = Path.Combine(_dir, "bad.txt");
        File.WriteAllText(bad, "first.token.a\nsecret part\n");
        (plan, error) = new TokenArgs { TokenFile = bad }.Validate();
        Assert.Null(plan);
        Assert.Contains("line 2", error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret part", error, StringComparison.Ordinal);

        string empty = Path.Combine(_dir, "empty.txt");
        File.WriteAllText(empty, "\n\n");
        (plan, error) = new TokenArgs { TokenFile = empty }.Validate();
        Assert.Null(plan);
        Assert.Contains("holds no token", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_token_options_there_are_no_tokens()
    {
        (TokenPlan? plan, string? error) = new TokenArgs().Validate();

        Assert.Null(error);
        Assert.Same(TokenPlan.NoTokens, plan);
        Assert.Equal("none", plan!.KindName);
        Assert.Null(plan.PlacementName);
        Assert.Equal("none", plan.Describe());
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("1h", 3600)]
    [InlineData("1.5h", 5400)]
    [InlineData("2d", 172800)]
    [InlineData("01:30:00", 5400)]
    public void Lifetimes_parse(string text, double seconds)
    {
        Assert.True(TokenArgs.TryParseLifetime(text, out TimeSpan lifetime));
        Assert.Equal(TimeSpan.FromSeconds(seconds), lifetime);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1h")]
    [InlineData("0")]
    [InlineData("00:00:00")]
    [InlineData("h")]
    [InlineData("1w")]
    public void Bad_lifetimes_do_not(string text) => Assert.False(TokenArgs.TryParseLifetime(text, out _));
}
