using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.LoadGen.Auth;

/// <summary>
/// Mints the JWTs of a run before its ramp (so signing is never on the measured path): connection i gets
/// <c>sub = PREFIX + i</c>, the same <c>iss</c>, <c>aud</c>, <c>iat</c>, <c>nbf</c> and <c>exp</c>, signed HS256 or ES256
/// with <see cref="JsonWebTokenHandler.CreateToken(SecurityTokenDescriptor)"/>, the library the server validates with.
/// </summary>
internal static class TokenMinter
{
    public static string[] Mint(TokenKind kind, MintSpec spec, int count, DateTime now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        using ECDsa? ecdsa = kind == TokenKind.Es256 ? ECDsa.Create() : null;
        SigningCredentials credentials;
        if (ecdsa is not null)
        {
            ecdsa.ImportFromPem(spec.PrivateKeyPem ?? throw new ArgumentException("ES256 needs a private key", nameof(spec)));
            credentials = new SigningCredentials(new ECDsaSecurityKey(ecdsa), SecurityAlgorithms.EcdsaSha256);
        }
        else if (kind == TokenKind.Hs256)
        {
            byte[] secret = Encoding.UTF8.GetBytes(spec.Secret ?? throw new ArgumentException("HS256 needs a secret", nameof(spec)));
            credentials = new SigningCredentials(new SymmetricSecurityKey(secret), SecurityAlgorithms.HmacSha256);
        }
        else
        {
            throw new ArgumentException("only hs256 and es256 are minted", nameof(kind));
        }

        // No cached signature provider: the process-wide cache would keep one holding this ECDsa after it is disposed
        // below, and a later run in the same process (the tests) with the same key would find it.
        credentials.CryptoProviderFactory = new CryptoProviderFactory { CacheSignatureProviders = false };

        // Whole seconds, as the claims are: iat/nbf a few seconds back so a server whose clock is slightly behind
        // (or a strict nbf check without skew) accepts them at once.
        DateTime issued = new DateTime(now.Ticks - (now.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc).AddSeconds(-5);
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var tokens = new string[count];
        for (int i = 0; i < count; i++)
        {
            var descriptor = new SecurityTokenDescriptor
            {
                SigningCredentials = credentials,
                Issuer = spec.Issuer,
                Audience = spec.Audience,
                IssuedAt = issued,
                NotBefore = issued,
                Expires = issued.AddSeconds(5) + spec.Lifetime,
                Claims = new Dictionary<string, object>(StringComparer.Ordinal)
                {
                    [JwtRegisteredClaimNames.Sub] = spec.SubjectPrefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                },
            };
            tokens[i] = handler.CreateToken(descriptor);
        }

        return tokens;
    }
}
