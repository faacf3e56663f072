using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace FastWs.LoadGen.Auth;

/// <summary>Where the tokens come from. The lower-case name is what the reports record.</summary>
internal enum TokenKind
{
    None,

    /// <summary><c>--token</c>: one token for every connection.</summary>
    Fixed,

    /// <summary><c>--token-file</c>: one token per line, connection i gets line i mod N.</summary>
    File,

    /// <summary><c>--mint-token hs256</c>: minted with a shared secret, one per connection.</summary>
    Hs256,

    /// <summary><c>--mint-token es256</c>: minted with an EC P-256 private key, one per connection.</summary>
    Es256,
}

/// <summary>Where a connection presents its token (<c>--token-in</c>).</summary>
internal enum TokenPlacement
{
    /// <summary><c>Authorization: Bearer JWT</c> on the upgrade request.</summary>
    Header,

    /// <summary><c>token=JWT</c> in the upgrade URL's query.</summary>
    Url,

    /// <summary>A first text message <c>{"type":"auth","token":"JWT"}</c> right after the 101.</summary>
    Message,
}

/// <summary>The token options as given on the command line, before validation.</summary>
internal sealed record TokenArgs
{
    public string? Token { get; init; }

    public string? TokenFile { get; init; }

    public string? Mint { get; init; }

    public string? MintSecret { get; init; }

    public string? MintKey { get; init; }

    public string? MintSubject { get; init; }

    public string? MintIssuer { get; init; }

    public string? MintAudience { get; init; }

    public string? MintLifetime { get; init; }

    public string? TokenIn { get; init; }

    /// <summary>
    /// Checks the combination and reads the token file or the key (so a bad one stops the run before any traffic).
    /// Error messages name the options, never a token or a secret.
    /// </summary>
    public (TokenPlan? Plan, string? Error) Validate()
    {
        int sources = (Token is null ? 0 : 1) + (TokenFile is null ? 0 : 1) + (Mint is null ? 0 : 1);
        if (sources > 1)
        {
            return (null, "--token, --token-file and --mint-token are alternatives: give only one of them");
        }

        if (Mint is null)
        {
            string? stray = MintSecret is not null ? "--mint-secret" : MintKey is not null ? "--mint-key" : MintSubject is not null ? "--mint-subject" :
                MintIssuer is not null ? "--mint-issuer" : MintAudience is not null ? "--mint-audience" : MintLifetime is not null ? "--mint-lifetime" : null;
            if (stray is not null)
            {
                return (null, stray + " only applies with --mint-token hs256|es256");
            }
        }

        if (sources == 0)
        {
            return TokenIn is null ? (TokenPlan.NoTokens, null) : (null, "--token-in needs a token: --token, --token-file or --mint-token");
        }

        TokenPlacement? where = TokenIn switch
        {
            null or "header" => TokenPlacement.Header,
            "url" => TokenPlacement.Url,
            "message" => TokenPlacement.Message,
            _ => null,
        };
        if (where is not TokenPlacement placement)
        {
            return (null, "--token-in must be url, header or message");
        }

        if (Token is not null)
        {
            string? problem = TokenPlan.CheckToken(Token);
            return problem is null ? (new TokenPlan(TokenKind.Fixed, placement, [Token]), null) : (null, "--token: " + problem);
        }

        if (TokenFile is not null)
        {
            return ReadTokenFile(TokenFile, placement);
        }

        return ValidateMint(placement);
    }

    private static (TokenPlan?, string?) ReadTokenFile(string path, TokenPlacement placement)
    {
        string[] lines;
        try
        {
            lines = System.IO.File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return (null, $"--token-file {path}: cannot read it: {ex.Message}");
        }

        var tokens = new List<string>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string token = lines[i].Trim();
            if (token.Length == 0)
            {
                continue; // Blank lines (a trailing newline, say) are not tokens.
            }

            string? problem = TokenPlan.CheckToken(token);
            if (problem is not null)
            {
                return (null, $"--token-file {path} line {i + 1}: {problem}");
            }

            tokens.Add(token);
        }

        return tokens.Count == 0 ? (null, $"--token-file {path} holds no token (one per line)") : (new TokenPlan(TokenKind.File, placement, tokens), null);
    }

    private (TokenPlan?, string?) ValidateMint(TokenPlacement placement)
    {
        TimeSpan lifetime = TimeSpan.FromHours(1);
        if (MintLifetime is not null && !TryParseLifetime(MintLifetime, out lifetime))
        {
            return (null, "--mint-lifetime must be a positive duration: 90s, 30m, 1h, 2d or hh:mm:ss");
        }

        string subject = MintSubject ?? TokenPlan.DefaultSubjectPrefix;
        switch (Mint)
        {
            case "hs256":
                if (MintKey is not null)
                {
                    return (null, "--mint-key is for --mint-token es256; hs256 signs with --mint-secret");
                }

                if (MintSecret is null)
                {
                    return (null, "--mint-token hs256 needs --mint-secret SECRET (the server's FastWs:Auth:Jwt:HmacSecret, at least 32 bytes)");
                }

                if (Encoding.UTF8.GetByteCount(MintSecret) < TokenPlan.MinSecretBytes)
                {
                    return (null, $"--mint-secret must be at least {TokenPlan.MinSecretBytes} bytes (UTF-8) for HS256");
                }

                return (new TokenPlan(TokenKind.Hs256, placement, new MintSpec(subject, MintIssuer, MintAudience, lifetime, MintSecret, null)), null);
            case "es256":
                if (MintSecret is not null)
                {
                    return (null, "--mint-secret is for --mint-token hs256; es256 signs with --mint-key FILE");
                }

                if (MintKey is null)
                {
                    return (null, "--mint-token es256 needs --mint-key FILE (a PEM EC P-256 private key; make a pair with: keygen es256 --out DIR)");
                }

                (string? pem, string? error) = ReadPrivateKey(MintKey);
                return pem is null ? (null, error) : (new TokenPlan(TokenKind.Es256, placement, new MintSpec(subject, MintIssuer, MintAudience, lifetime, null, pem)), null);
            default:
                return (null, "--mint-token must be hs256 or es256");
        }
    }

    /// <summary>Reads the PEM and checks, once, that it is a P-256 private key (a public key or another curve cannot sign ES256).</summary>
    private static (string? Pem, string? Error) ReadPrivateKey(string path)
    {
        string pem;
        try
        {
            pem = System.IO.File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return (null, $"--mint-key {path}: cannot read it: {ex.Message}");
        }

        try
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(pem);
            ECParameters parameters = key.ExportParameters(includePrivateParameters: true);
            // By OID, not by key size: secp256k1 and brainpoolP256r1 are 256-bit curves too.
            Oid? curve = parameters.Curve.Oid;
            if (curve?.Value != TokenPlan.P256Oid && curve?.FriendlyName is not ("nistP256" or "ECDSA_P256" or "prime256v1"))
            {
                return (null, $"--mint-key {path}: not a P-256 (prime256v1) key; ES256 needs one");
            }

            return (pem, null);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            return (null, $"--mint-key {path}: not a PEM EC P-256 private key ({ex.Message})");
        }
    }

    /// <summary><c>90s</c>, <c>30m</c>, <c>1h</c>, <c>2d</c> or a TimeSpan such as <c>01:30:00</c>; must be positive.</summary>
    internal static bool TryParseLifetime(string text, out TimeSpan lifetime)
    {
        lifetime = default;
        text = text.Trim();
        if (text.Length >= 2 && "smhd".Contains(char.ToLowerInvariant(text[^1]), StringComparison.Ordinal) &&
            double.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
        {
            double seconds = char.ToLowerInvariant(text[^1]) switch { 's' => 1, 'm' => 60, 'h' => 3600, _ => 86400 } * number;
            if (double.IsFinite(seconds) && seconds is > 0 and < 100 * 365 * 86400.0)
            {
                lifetime = TimeSpan.FromSeconds(seconds);
                return true;
            }

            return false;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out lifetime) && lifetime > TimeSpan.Zero;
    }
}

/// <summary>What minted tokens carry and how they are signed (exactly one of <see cref="Secret"/> and <see cref="PrivateKeyPem"/>).</summary>
internal sealed record MintSpec(string SubjectPrefix, string? Issuer, string? Audience, TimeSpan Lifetime, string? Secret, string? PrivateKeyPem);

/// <summary>The validated token settings of a run: where the tokens come from and where they go.</summary>
internal sealed class TokenPlan
{
    public const string DefaultSubjectPrefix = "loadgen-";

    public const int MinSecretBytes = 32;

    /// <summary>
    /// Longest token accepted from --token or --token-file. The upgrade request must fit in the server's
    /// 8 KB head limit (FastWs:MaxHandshakeHeaderBytes); a JWT is a few hundred bytes.
    /// </summary>
    public const int MaxTokenLength = 4096;

    internal const string P256Oid = "1.2.840.10045.3.1.7";

    public static readonly TokenPlan NoTokens = new(TokenKind.None, TokenPlacement.Header, []);

    public TokenPlan(TokenKind kind, TokenPlacement placement, IReadOnlyList<string> tokens)
    {
        Kind = kind;
        Placement = placement;
        Tokens = tokens;
    }

    public TokenPlan(TokenKind kind, TokenPlacement placement, MintSpec mint)
    {
        Kind = kind;
        Placement = placement;
        Tokens = [];
        Mint = mint;
    }

    public TokenKind Kind { get; }

    public TokenPlacement Placement { get; }

    /// <summary>The given tokens (fixed or file); empty when minting.</summary>
    public IReadOnlyList<string> Tokens { get; }

    public MintSpec? Mint { get; }

    /// <summary>"none", "fixed", "file", "hs256" or "es256": what summary.json records.</summary>
    public string KindName => Kind.ToString().ToLowerInvariant();

    /// <summary>"url", "header", "message", or null without tokens.</summary>
    public string? PlacementName => Kind == TokenKind.None ? null : Placement.ToString().ToLowerInvariant();

    /// <summary>
    /// The token mode for logs and reports, e.g. "ES256 minted, 1 per connection, in header". Never the tokens
    /// themselves, nor the secret or the key.
    /// </summary>
    public string Describe()
    {
        string where = Placement switch
        {
            TokenPlacement.Url => "in url (token= query parameter)",
            TokenPlacement.Message => "in message (first text frame {\"type\":\"auth\"})",
            _ => "in header (Authorization: Bearer)",
        };
        return Kind switch
        {
            TokenKind.None => "none",
            TokenKind.Fixed => "fixed (--token), the same for every connection, " + where,
            TokenKind.File => $"file (--token-file, {Tokens.Count} token(s), connection i gets line i mod {Tokens.Count}), " + where,
            _ => $"{Kind.ToString().ToUpperInvariant()} minted, 1 per connection (sub={Mint!.SubjectPrefix}i{(Mint.Issuer is null ? "" : ", iss")}{(Mint.Audience is null ? "" : ", aud")}, lifetime {Mint.Lifetime}), " + where,
        };
    }

    /// <summary>Why <paramref name="token"/> cannot be sent as given (it would break the request line or the header), or null.</summary>
    public static string? CheckToken(string token)
    {
        if (token.Length == 0)
        {
            return "the token is empty";
        }

        if (token.Length > MaxTokenLength)
        {
            return $"the token is longer than {MaxTokenLength} characters";
        }

        foreach (char c in token)
        {
            if (c is <= ' ' or > '~')
            {
                return "a token must be printable ASCII without spaces (as a JWT is)";
            }
        }

        return null;
    }
}
