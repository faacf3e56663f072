namespace FastWs.Server.Auth;

/// <summary>
/// Who a connection is: the "FastWs:Auth" section. Tokens are JWTs checked with Microsoft.IdentityModel.JsonWebTokens
/// against the keys configured under <see cref="Jwt"/>; with no key configured there is no authentication at all
/// and every connection is anonymous (see docs/operations.md, "Authentication").
/// </summary>
public sealed class AuthOptions
{
    /// <summary>
    /// Every connection must present a valid token: on the upgrade (URL, header or subprotocol) or as its first
    /// message within <see cref="Timeout"/>. Off: a connection without a token is anonymous.
    /// </summary>
    public bool Required { get; set; }

    /// <summary>
    /// How long a connection that came without a token has to send <c>{"type":"auth","token":"..."}</c>. Until then
    /// subscriptions that need a user wait for it; afterwards they are refused (or, with <see cref="Required"/>, the
    /// connection is closed with 4001).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long before its token expires a connection is sent <c>token_expiring</c>. Zero: no warning.</summary>
    public TimeSpan ExpiryWarning { get; set; } = TimeSpan.FromSeconds(60);

    public JwtOptions Jwt { get; set; } = new();
}

/// <summary>Token validation settings ("FastWs:Auth:Jwt").</summary>
public sealed class JwtOptions
{
    /// <summary>Shared secret for HS256/384/512 (UTF-8, at least 32 bytes). Alone, it is enough to accept HS256 tokens.</summary>
    public string? HmacSecret { get; set; }

    /// <summary>PEM public keys (RSA or EC; SubjectPublicKeyInfo or a certificate) for RS*, PS256 and ES* tokens, tried for any <c>kid</c>.</summary>
    public List<string> PublicKeyFiles { get; set; } = [];

    /// <summary>
    /// A JSON Web Key Set file; its keys are chosen by the token's <c>kid</c>. The file is re-read when it changes,
    /// so keys rotate without a restart (a rewrite that does not parse keeps the previous keys).
    /// </summary>
    public string? JwksFile { get; set; }

    /// <summary>Required <c>iss</c>; not checked when unset.</summary>
    public string? Issuer { get; set; }

    /// <summary>Required <c>aud</c>; not checked when unset.</summary>
    public string? Audience { get; set; }

    /// <summary>The claim that names the user (the intents backend puts the wallet address here).</summary>
    public string UserClaim { get; set; } = "sub";

    /// <summary>The claim that lists the user's roles (a string or an array of strings), for <c>Role:&lt;name&gt;</c> rules.</summary>
    public string RolesClaim { get; set; } = "roles";

    /// <summary>Tolerance for <c>exp</c> and <c>nbf</c> against this machine's clock.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Tokens without <c>exp</c> are refused unless this is off.</summary>
    public bool RequireExpiration { get; set; } = true;

    /// <summary>
    /// Longest token accepted (characters); longer ones are refused with 4001 "too large" before any parsing. Half the
    /// default upgrade-request limit (MaxHandshakeHeaderBytes, 8 KB), so an oversized token in the URL or a header
    /// still gets its 4001 rather than the 431 for an oversized request; real JWTs are well under 2 KB.
    /// </summary>
    public int MaxTokenLength { get; set; } = 4096;

    /// <summary>Whether any key is configured, i.e. whether tokens can be checked at all.</summary>
    public bool HasKeys => !string.IsNullOrEmpty(HmacSecret) || PublicKeyFiles.Count > 0 || !string.IsNullOrEmpty(JwksFile);
}
