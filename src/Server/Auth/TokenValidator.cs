using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Server.Auth;

/// <summary>The outcome of checking one token: the user, or why not.</summary>
public readonly record struct TokenCheck(UserIdentity? User, AuthFailure Failure)
{
    public bool IsValid => User is not null;
}

/// <summary>
/// Checks JWTs with Microsoft.IdentityModel.JsonWebTokens: signature (HS256/384/512, RS256/384/512, PS256,
/// ES256/384 only), issuer, audience, lifetime with the configured clock skew; then reads the user and role
/// claims. Everything about JWT parsing and cryptography is the library's: this class only configures it and
/// turns its verdicts into <see cref="AuthFailure"/> reasons (never echoing the token). Thread-safe; runs at
/// upgrade and on <c>auth</c> messages, never on the delivery path.
/// </summary>
public sealed class TokenValidator
{
    /// <summary>The algorithms accepted; anything else (notably <c>none</c>) is refused before the signature is looked at.</summary>
    public static readonly IReadOnlyList<string> Algorithms =
    [
        SecurityAlgorithms.HmacSha256, SecurityAlgorithms.HmacSha384, SecurityAlgorithms.HmacSha512,
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384,
    ];

    private readonly JsonWebTokenHandler _handler;
    private readonly TokenValidationParameters _parameters;
    private readonly SigningKeys _keys;
    private readonly JwtOptions _options;

    public TokenValidator(JwtOptions options, ILogger? logger = null)
        : this(options, new SigningKeys(options, logger))
    {
    }

    private TokenValidator(JwtOptions options, SigningKeys keys)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _keys = keys;
        _handler = new JsonWebTokenHandler { MaximumTokenSizeInBytes = Math.Max(256, options.MaxTokenLength), MapInboundClaims = false };
        _parameters = new TokenValidationParameters
        {
            ValidAlgorithms = Algorithms,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = false, // the keys are ours (configuration), not the token's to name
            IssuerSigningKeyResolver = (_, _, kid, _) => _keys.Resolve(kid),
            TryAllIssuerSigningKeys = true,
            ValidateIssuer = !string.IsNullOrEmpty(options.Issuer),
            ValidIssuer = options.Issuer,
            ValidateAudience = !string.IsNullOrEmpty(options.Audience),
            ValidAudience = options.Audience,
            ValidateLifetime = true,
            RequireExpirationTime = options.RequireExpiration,
            ClockSkew = options.ClockSkew,
            NameClaimType = options.UserClaim,
            RoleClaimType = options.RolesClaim,
        };
    }

    /// <summary>
    /// Checks a token of each key family the server has keys for (HS256, RS256, ES256), minted with throwaway keys,
    /// through a validator configured like this one: the library's whole path and the crypto interop are compiled
    /// before the first client brings a token (the server runs without tiered compilation, so that first check paid
    /// 100-150 ms). Families without a configured key are skipped (an RSA key alone takes ~0.3 s to generate).
    /// Returns how many were accepted (as many as were tried, unless something is broken).
    /// </summary>
    internal (int Tried, int Accepted) WarmUp()
    {
        var keys = new List<(SecurityKey Key, string Alg)>();
        if (_keys.HasFamily(SecurityAlgorithms.HmacSha256))
        {
            keys.Add((new SymmetricSecurityKey(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64)), SecurityAlgorithms.HmacSha256));
        }

        if (_keys.HasFamily(SecurityAlgorithms.EcdsaSha256))
        {
            keys.Add((new ECDsaSecurityKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256)), SecurityAlgorithms.EcdsaSha256));
        }

        if (_keys.HasFamily(SecurityAlgorithms.RsaSha256))
        {
            keys.Add((new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)), SecurityAlgorithms.RsaSha256));
        }

        var validator = new TokenValidator(_options, new SigningKeys(keys.Select(k => k.Key)));
        int accepted = 0;
        foreach ((SecurityKey key, string alg) in keys)
        {
            string token = _handler.CreateToken(new SecurityTokenDescriptor
            {
                Claims = new Dictionary<string, object> { [_options.UserClaim] = "warm-up", [_options.RolesClaim] = new[] { "warm-up" } },
                Issuer = _options.Issuer,
                Audience = _options.Audience,
                Expires = DateTime.UtcNow.AddMinutes(1),
                SigningCredentials = new SigningCredentials(key, alg),
            });
            accepted += validator.Validate(token).IsValid ? 1 : 0;
            (key as ECDsaSecurityKey)?.ECDsa.Dispose();
            (key as RsaSecurityKey)?.Rsa?.Dispose();
        }

        return (keys.Count, accepted);
    }

    /// <summary>Where key reloads are reported.</summary>
    internal ILogger? Logger
    {
        set => _keys.Logger = value;
    }

    /// <summary>
    /// <see cref="ValidateAsync"/> for callers on a synchronous read loop. Without a metadata endpoint (FastWs
    /// configures none) the library's validation finishes before returning, so this does not block.
    /// </summary>
    public TokenCheck Validate(string token)
    {
        ValueTask<TokenCheck> check = ValidateAsync(token);
        return check.IsCompleted ? check.Result : check.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// Checks a token. The library's validation is asynchronous in signature only when no metadata endpoint is
    /// configured (ours never is): the task it returns has already completed, so callers on a read loop may wait for it.
    /// </summary>
    public async ValueTask<TokenCheck> ValidateAsync(string token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return new TokenCheck(null, AuthFailure.Malformed);
        }

        if (token.Length > _options.MaxTokenLength)
        {
            return new TokenCheck(null, AuthFailure.TooLarge);
        }

        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException)
        {
            return new TokenCheck(null, AuthFailure.Malformed);
        }

        // Decided here, from the header, so that each refusal names its own reason rather than whatever the
        // library's first failing step happens to be for such a token.
        string alg = jwt.Alg ?? string.Empty;
        if (alg.Length == 0 || string.Equals(alg, "none", StringComparison.OrdinalIgnoreCase) || string.IsNullOrEmpty(jwt.EncodedSignature))
        {
            return new TokenCheck(null, AuthFailure.AlgNone);
        }

        if (!Algorithms.Contains(alg))
        {
            return new TokenCheck(null, AuthFailure.UnsupportedAlgorithm);
        }

        if (!_keys.HasKeyFor(jwt.Kid, alg))
        {
            return new TokenCheck(null, AuthFailure.UnknownKey);
        }

        TokenValidationResult result = await _handler.ValidateTokenAsync(jwt, _parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return new TokenCheck(null, Classify(result.Exception));
        }

        // Read from the token's payload, not result.ClaimsIdentity: the library builds that identity lazily, a Claim
        // object per payload entry, which is most of what a check would otherwise allocate.
        if (UserOf(jwt, _options.UserClaim) is not { Length: > 0 } user)
        {
            return new TokenCheck(null, AuthFailure.MissingUserClaim);
        }

        string[] roles = RolesOf(jwt);
        DateTime? expires = jwt.TryGetPayloadValue("exp", out object _) ? jwt.ValidTo : null;
        return new TokenCheck(new UserIdentity(user, roles, expires), default);
    }

    /// <summary>The user claim as text: a string, or a number (some issuers put numeric ids in <c>sub</c>).</summary>
    private static string? UserOf(JsonWebToken jwt, string claim)
    {
        if (jwt.TryGetPayloadValue(claim, out string? text))
        {
            return text;
        }

        return jwt.TryGetPayloadValue(claim, out long number) ? number.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The roles claim: an array of strings, or one string; none when absent.</summary>
    /// <remarks>The array is asked for first: asked for a string, the library answers an array with its JSON text.</remarks>
    private string[] RolesOf(JsonWebToken jwt)
    {
        if (jwt.TryGetPayloadValue(_options.RolesClaim, out string[]? many) && many is not null)
        {
            return Array.FindAll(many, role => !string.IsNullOrEmpty(role));
        }

        return jwt.TryGetPayloadValue(_options.RolesClaim, out string? single) && !string.IsNullOrEmpty(single) ? [single] : [];
    }

    private static AuthFailure Classify(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => AuthFailure.Expired,
        SecurityTokenNotYetValidException => AuthFailure.NotYetValid,
        SecurityTokenNoExpirationException => AuthFailure.NoExpiration,
        SecurityTokenInvalidIssuerException => AuthFailure.WrongIssuer,
        SecurityTokenInvalidAudienceException => AuthFailure.WrongAudience,
        SecurityTokenInvalidAlgorithmException => AuthFailure.UnsupportedAlgorithm,
        SecurityTokenSignatureKeyNotFoundException => AuthFailure.BadSignature,
        SecurityTokenInvalidSignatureException => AuthFailure.BadSignature,
        SecurityTokenMalformedException => AuthFailure.Malformed,
        _ => AuthFailure.Invalid,
    };
}
