using System.Security.Cryptography;
using System.Text;
using FastWs.Server.Hosting;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// Makes real signed JWTs (with the same library the server validates with, as an issuer would) and the key files
/// the server reads: an HMAC secret, PEM public keys for RSA, P-256 and P-384, and JWKS files. One per test, in a
/// temporary folder deleted on dispose.
/// </summary>
internal sealed class TokenFactory : IDisposable
{
    // 64 bytes: HS512 wants a key at least as long as its hash.
    public const string Secret = "fastws-test-secret-0123456789-abcdef-0123456789-abcdef-012345678";
    public const string Issuer = "https://issuer.test";
    public const string Audience = "fastws-tests";

    /// <summary>Two wallet-style user ids (the intents backend's users are 0x addresses).</summary>
    public const string Alice = "0x1111111111111111111111111111111111111aaa";
    public const string Bob = "0x2222222222222222222222222222222222222bbb";

    private readonly JsonWebTokenHandler _handler = new();

    public TokenFactory()
    {
        Folder = Directory.CreateTempSubdirectory("fastws-auth-").FullName;
        Rsa = RSA.Create(2048);
        P256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        P384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        RsaPublicKeyFile = Write("rsa.pub.pem", Rsa.ExportSubjectPublicKeyInfoPem());
        P256PublicKeyFile = Write("p256.pub.pem", P256.ExportSubjectPublicKeyInfoPem());
        P384PublicKeyFile = Write("p384.pub.pem", P384.ExportSubjectPublicKeyInfoPem());
    }

    public string Folder { get; }

    public RSA Rsa { get; }

    public ECDsa P256 { get; }

    public ECDsa P384 { get; }

    public string RsaPublicKeyFile { get; }

    public string P256PublicKeyFile { get; }

    public string P384PublicKeyFile { get; }

    /// <summary>Server settings that accept HS256 tokens from <see cref="Secret"/> and every PEM key, checking issuer and audience.</summary>
    public void Configure(FastWsOptions options)
    {
        options.Auth.Jwt.HmacSecret = Secret;
        options.Auth.Jwt.PublicKeyFiles = [RsaPublicKeyFile, P256PublicKeyFile, P384PublicKeyFile];
        options.Auth.Jwt.Issuer = Issuer;
        options.Auth.Jwt.Audience = Audience;
    }

    /// <summary>A signed token. <paramref name="alg"/> picks the key: HS* the secret, RS*/PS* the RSA key, ES256 P-256, ES384 P-384.</summary>
    public string Create(string user = Alice, string alg = SecurityAlgorithms.HmacSha256, string[]? roles = null,
        TimeSpan? lifetime = null, DateTime? notBefore = null, string? issuer = Issuer, string? audience = Audience,
        string? kid = null, SecurityKey? key = null, IDictionary<string, object>? extraClaims = null, bool includeUser = true)
    {
        DateTime now = DateTime.UtcNow;
        var claims = new Dictionary<string, object>(StringComparer.Ordinal);
        if (includeUser)
        {
            claims["sub"] = user;
        }

        if (roles is not null)
        {
            claims["roles"] = roles;
        }

        foreach (KeyValuePair<string, object> claim in extraClaims ?? new Dictionary<string, object>())
        {
            claims[claim.Key] = claim.Value;
        }

        SecurityKey signingKey = key ?? KeyFor(alg);
        if (kid is not null)
        {
            signingKey.KeyId = kid;
        }

        DateTime expires = now + (lifetime ?? TimeSpan.FromHours(1));
        DateTime issuedAt = notBefore is { } nbf && nbf < expires ? nbf : (expires < now ? expires.AddMinutes(-1) : now);
        var descriptor = new SecurityTokenDescriptor
        {
            Claims = claims,
            Issuer = issuer,
            Audience = audience,
            IssuedAt = issuedAt,
            NotBefore = notBefore ?? issuedAt,
            Expires = expires,
            SigningCredentials = new SigningCredentials(signingKey, alg),
        };
        return _handler.CreateToken(descriptor);
    }

    /// <summary>A token with <c>"alg":"none"</c> and no signature (the classic forgery).</summary>
    public static string Unsigned(string user = Alice)
    {
        long exp = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        string header = Base64UrlEncoder.Encode("""{"alg":"none","typ":"JWT"}""");
        string payload = Base64UrlEncoder.Encode($$"""{"sub":"{{user}}","iss":"{{Issuer}}","aud":"{{Audience}}","exp":{{exp}}}""");
        return header + "." + payload + ".";
    }

    /// <summary>Writes a JWKS file holding the public halves of the given keys, each with its kid.</summary>
    public string WriteJwks(string fileName, params (string Kid, ECDsa Key)[] keys)
    {
        var entries = new List<string>();
        foreach ((string kid, ECDsa key) in keys)
        {
            JsonWebKey jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(key));
            entries.Add($$"""{"kty":"EC","crv":"{{jwk.Crv}}","x":"{{jwk.X}}","y":"{{jwk.Y}}","kid":"{{kid}}","use":"sig","alg":"ES256"}""");
        }

        return Write(fileName, "{\"keys\":[" + string.Join(",", entries) + "]}");
    }

    public string Write(string fileName, string content)
    {
        string path = Path.Combine(Folder, fileName);
        // Write to a temporary file and move it over: the server must never see half a file (as a key rotation
        // script would do it too).
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, content, Encoding.UTF8);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    private SecurityKey KeyFor(string alg) => alg switch
    {
        SecurityAlgorithms.HmacSha256 or SecurityAlgorithms.HmacSha384 or SecurityAlgorithms.HmacSha512 => new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)),
        SecurityAlgorithms.EcdsaSha256 => new ECDsaSecurityKey(P256),
        SecurityAlgorithms.EcdsaSha384 => new ECDsaSecurityKey(P384),
        _ => new RsaSecurityKey(Rsa),
    };

    public void Dispose()
    {
        Rsa.Dispose();
        P256.Dispose();
        P384.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does no harm.
        }
    }
}
