namespace FastWs.Server.Auth;

/// <summary>Why a token was refused (counted per reason; the reason is the text of the 4001 close).</summary>
public enum AuthFailure
{
    Malformed,
    TooLarge,
    AlgNone,
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    NoExpiration,
    MissingUserClaim,
    Invalid,
    NotConfigured,
    UserChanged,
    Timeout,
}

public static class AuthFailures
{
    public static readonly int Count = Enum.GetValues<AuthFailure>().Length;

    private static readonly string[] Names =
    [
        "malformed", "too_large", "alg_none", "unsupported_algorithm", "unknown_kid", "bad_signature", "wrong_issuer",
        "wrong_audience", "expired", "not_yet_valid", "no_expiration", "missing_user_claim", "invalid", "not_configured",
        "user_changed", "timeout",
    ];

    // Close reasons must fit a control frame (123 bytes of UTF-8), and never quote the token.
    private static readonly string[] Reasons =
    [
        "Invalid token: malformed",
        "Invalid token: too large",
        "Invalid token: unsigned (alg none)",
        "Invalid token: algorithm not accepted",
        "Invalid token: unknown signing key (kid)",
        "Invalid token: bad signature",
        "Invalid token: wrong issuer",
        "Invalid token: wrong audience",
        "Invalid token: expired",
        "Invalid token: not yet valid",
        "Invalid token: no expiry (exp)",
        "Invalid token: no user claim",
        "Invalid token",
        "Tokens are not accepted: no signing key configured",
        "Token names a different user",
        "Authentication required: no token in time",
    ];

    /// <summary>The snake_case label used in stats and metrics.</summary>
    public static string Name(AuthFailure failure) => Names[(int)failure];

    /// <summary>The close reason (4001) and error message: names the problem, never the token.</summary>
    public static string Reason(AuthFailure failure) => Reasons[(int)failure];
}
