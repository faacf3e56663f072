using Microsoft.Extensions.Logging;

namespace FastWs.Server.Auth;

/// <summary>
/// The server's identity settings put together once at start: the token validator (null when no key is
/// configured: then there is no authentication and every connection is anonymous) and the Origin policy.
/// Contradictory settings stop the start with a message naming the setting.
/// </summary>
public sealed class Authenticator
{
    public Authenticator(AuthOptions options, IEnumerable<string> allowedOrigins, bool requireOrigin, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Origins = new OriginPolicy(allowedOrigins, requireOrigin);
        if (options.Jwt.HasKeys)
        {
            Validator = new TokenValidator(options.Jwt, logger);
        }
        else if (options.Required)
        {
            throw new InvalidOperationException("FastWs:Auth:Required is on but no key is configured (FastWs:Auth:Jwt:HmacSecret, PublicKeyFiles or JwksFile)");
        }

        if (options.Required && options.Timeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("FastWs:Auth:Timeout must be positive while FastWs:Auth:Required is on");
        }
    }

    public AuthOptions Options { get; }

    public OriginPolicy Origins { get; }

    /// <summary>The token checker; null when no key is configured.</summary>
    public TokenValidator? Validator { get; }

    /// <summary>Reports key reloads to the host's log (the validator is built before logging exists).</summary>
    public void AttachLogger(ILogger logger)
    {
        if (Validator is not null)
        {
            Validator.Logger = logger;
        }
    }

    /// <summary>Compiles the token-checking path before the first client needs it (see <see cref="TokenValidator.WarmUp"/>); nothing without keys.</summary>
    public (int Tried, int Accepted) WarmUp() => Validator?.WarmUp() ?? (0, 0);

    /// <summary>Whether tokens are checked at all.</summary>
    public bool IsEnabled => Validator is not null;

    /// <summary>Checks a token; without keys every token is refused (a token that cannot be checked never passes as anonymous).</summary>
    public ValueTask<TokenCheck> ValidateAsync(string token) =>
        Validator?.ValidateAsync(token) ?? ValueTask.FromResult(new TokenCheck(null, AuthFailure.NotConfigured));

    /// <summary>The same, for callers on a synchronous read loop (see <see cref="TokenValidator.Validate"/>).</summary>
    public TokenCheck Validate(string token) => Validator?.Validate(token) ?? new TokenCheck(null, AuthFailure.NotConfigured);
}
