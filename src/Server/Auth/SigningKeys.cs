using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Server.Auth;

/// <summary>
/// The keys tokens are checked against: the HMAC secret and the PEM public keys, loaded once, and the JWKS file,
/// re-read whenever its size or write time changes (checked with one stat per lookup, far cheaper than the
/// signature check it precedes), so that keys rotate without a restart. Keys from the secret and the PEM files have
/// no <c>kid</c> and are tried for any token; JWKS keys are chosen by <c>kid</c>.
/// </summary>
internal sealed class SigningKeys
{
    private readonly SecurityKey[] _fixedKeys;
    private readonly string? _jwksPath;
    private ILogger? _logger;
    private readonly Lock _reloadLock = new();
    private JwksSnapshot _jwks = JwksSnapshot.Empty;

    public SigningKeys(JwtOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger;
        var keys = new List<SecurityKey>();
        if (!string.IsNullOrEmpty(options.HmacSecret))
        {
            byte[] secret = Encoding.UTF8.GetBytes(options.HmacSecret);
            if (secret.Length < 32)
            {
                throw new InvalidOperationException("FastWs:Auth:Jwt:HmacSecret must be at least 32 bytes (256 bits) of UTF-8");
            }

            keys.Add(new SymmetricSecurityKey(secret));
        }

        for (int i = 0; i < options.PublicKeyFiles.Count; i++)
        {
            keys.Add(LoadPem(options.PublicKeyFiles[i], $"FastWs:Auth:Jwt:PublicKeyFiles:{i}"));
        }

        _fixedKeys = [.. keys];
        if (!string.IsNullOrEmpty(options.JwksFile))
        {
            _jwksPath = Path.GetFullPath(options.JwksFile);
            // At start a JWKS that cannot be read is a configuration error; later, a bad rewrite keeps the old keys.
            _jwks = JwksSnapshot.Load(_jwksPath) ?? throw new InvalidOperationException($"FastWs:Auth:Jwt:JwksFile: cannot read a JSON Web Key Set from '{options.JwksFile}'");
        }
    }

    /// <summary>A fixed set of keys (no files): the start-up warm-up's throwaway keys.</summary>
    internal SigningKeys(IEnumerable<SecurityKey> keys)
    {
        _fixedKeys = [.. keys];
    }

    /// <summary>Where JWKS reloads are reported; set once the host's logging exists (the keys are loaded before it).</summary>
    public ILogger? Logger
    {
        get => _logger;
        set => _logger = value;
    }

    /// <summary>
    /// Whether a token signed with <paramref name="alg"/> and naming <paramref name="kid"/> has any key to be checked
    /// against: a JWKS key with that kid, or a configured key without kid of the algorithm's family (the secret for
    /// HS*, an RSA key for RS*/PS*, an EC key for ES*). No: the token is refused as naming an unknown key.
    /// </summary>
    public bool HasKeyFor(string? kid, string alg)
    {
        JwksSnapshot jwks = CurrentJwks();
        if (string.IsNullOrEmpty(kid) ? jwks.Keys.Length > 0 : jwks.ByKid.ContainsKey(kid))
        {
            return true;
        }

        foreach (SecurityKey key in _fixedKeys)
        {
            if (Fits(key, alg))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether any configured key (fixed or in the JWKS now) can check tokens of <paramref name="alg"/>'s family.</summary>
    public bool HasFamily(string alg) => Array.Exists(_fixedKeys, key => Fits(key, alg)) || Array.Exists(CurrentJwks().Keys, key => Fits(key, alg));

    private static bool Fits(SecurityKey key, string alg) => alg[0] switch
    {
        'H' => key is SymmetricSecurityKey,
        'R' or 'P' => key is RsaSecurityKey || (key is JsonWebKey { Kty: "RSA" }),
        'E' => key is ECDsaSecurityKey || (key is JsonWebKey { Kty: "EC" }),
        _ => false,
    };

    /// <summary>The candidate keys for a token: the JWKS key with its kid (or every JWKS key when it has none) and the fixed keys.</summary>
    public IEnumerable<SecurityKey> Resolve(string? kid)
    {
        JwksSnapshot jwks = CurrentJwks();
        if (string.IsNullOrEmpty(kid))
        {
            return jwks.Keys.Length == 0 ? _fixedKeys : [.. jwks.Keys, .. _fixedKeys];
        }

        return jwks.ByKid.TryGetValue(kid, out SecurityKey? key) ? [key, .. _fixedKeys] : _fixedKeys;
    }

    /// <summary>The JWKS as the file is now: re-read when its size or write time differs from the loaded copy.</summary>
    private JwksSnapshot CurrentJwks()
    {
        JwksSnapshot current = Volatile.Read(ref _jwks);
        if (_jwksPath is null)
        {
            return current;
        }

        var file = new FileInfo(_jwksPath);
        if (!file.Exists || (file.LastWriteTimeUtc == current.WriteTimeUtc && file.Length == current.Length))
        {
            return current;
        }

        lock (_reloadLock)
        {
            current = _jwks;
            if (file.LastWriteTimeUtc == current.WriteTimeUtc && file.Length == current.Length)
            {
                return current;
            }

            JwksSnapshot? reloaded = JwksSnapshot.Load(_jwksPath);
            if (reloaded is null)
            {
                // A half-written file or a bad edit: keep serving with the keys we had, and try again on a later change.
                _logger?.LogWarning("JWKS file {Path} changed but could not be read; keeping the previous {Count} keys", _jwksPath, current.Keys.Length);
                Volatile.Write(ref _jwks, current with { WriteTimeUtc = file.LastWriteTimeUtc, Length = file.Length });
                return current;
            }

            _logger?.LogInformation("JWKS file {Path} reloaded: {Count} keys", _jwksPath, reloaded.Keys.Length);
            Volatile.Write(ref _jwks, reloaded);
            return reloaded;
        }
    }

    private static SecurityKey LoadPem(string path, string setting)
    {
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{setting}: cannot read '{path}': {ex.Message}", ex);
        }

        try
        {
            if (pem.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                using X509Certificate2 certificate = X509Certificate2.CreateFromPem(pem);
                if (certificate.GetECDsaPublicKey() is { } ecFromCertificate)
                {
                    return new ECDsaSecurityKey(ecFromCertificate);
                }

                return new RsaSecurityKey(certificate.GetRSAPublicKey() ?? throw new CryptographicException("the certificate has neither an RSA nor an EC key"));
            }

            if (pem.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
            {
                throw new CryptographicException("the file holds a private key; give the server the public key only");
            }

            try
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(pem);
                return new ECDsaSecurityKey(ec);
            }
            catch (CryptographicException)
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(pem);
                return new RsaSecurityKey(rsa);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"{setting}: '{path}' is not a PEM RSA or EC public key: {ex.Message}", ex);
        }
    }

    /// <summary>One read of the JWKS file.</summary>
    private sealed record JwksSnapshot(SecurityKey[] Keys, Dictionary<string, SecurityKey> ByKid, DateTime WriteTimeUtc, long Length)
    {
        public static readonly JwksSnapshot Empty = new([], new Dictionary<string, SecurityKey>(StringComparer.Ordinal), default, -1);

        public static JwksSnapshot? Load(string path)
        {
            try
            {
                var file = new FileInfo(path);
                DateTime written = file.LastWriteTimeUtc;
                long length = file.Length;
                var set = new JsonWebKeySet(File.ReadAllText(path));
                IList<SecurityKey> keys = set.GetSigningKeys();
                var byKid = new Dictionary<string, SecurityKey>(StringComparer.Ordinal);
                foreach (SecurityKey key in keys)
                {
                    if (!string.IsNullOrEmpty(key.KeyId))
                    {
                        byKid[key.KeyId] = key;
                    }
                }

                return new JwksSnapshot([.. keys], byKid, written, length);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or System.Text.Json.JsonException)
            {
                return null;
            }
        }
    }
}
