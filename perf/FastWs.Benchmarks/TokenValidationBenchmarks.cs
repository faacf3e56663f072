using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Auth;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace FastWs.Benchmarks;

/// <summary>
/// What checking one token costs the server (<see cref="TokenValidator.ValidateAsync"/>: the JWT library's parse,
/// signature and claim checks, and reading the user and roles), once per authenticated handshake. HS256 is mostly the
/// library's own work; ES256 adds a P-256 signature verification (OpenSSL, ~86 µs on the test machine).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class TokenValidationBenchmarks : IDisposable
{
    private const string Secret = "benchmark-secret-benchmark-secret-0123456789abcdef";

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private string _folder = null!;
    private TokenValidator _validator = null!;
    private string _hs256 = null!;
    private string _es256 = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("fastws-bench-").FullName;
        string publicKey = Path.Combine(_folder, "p256.pub.pem");
        File.WriteAllText(publicKey, _key.ExportSubjectPublicKeyInfoPem());
        _validator = new TokenValidator(new JwtOptions
        {
            HmacSecret = Secret,
            PublicKeyFiles = [publicKey],
            Issuer = "https://issuer.bench",
            Audience = "fastws",
        });

        var handler = new JsonWebTokenHandler();
        string Create(SigningCredentials credentials) => handler.CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object> { ["sub"] = "0x1111111111111111111111111111111111111aaa", ["roles"] = new[] { "trader" } },
            Issuer = "https://issuer.bench",
            Audience = "fastws",
            Expires = DateTime.UtcNow.AddHours(1),
            SigningCredentials = credentials,
        });
        _hs256 = Create(new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(Secret)), SecurityAlgorithms.HmacSha256));
        _es256 = Create(new SigningCredentials(new ECDsaSecurityKey(_key), SecurityAlgorithms.EcdsaSha256));

        // The benchmark measures accepted tokens: fail the run if either is refused.
        foreach (string token in new[] { _hs256, _es256 })
        {
            TokenCheck check = _validator.ValidateAsync(token).AsTask().GetAwaiter().GetResult();
            if (!check.IsValid || check.User!.Id != "0x1111111111111111111111111111111111111aaa" || !check.User.HasRole("trader"))
            {
                throw new InvalidOperationException($"benchmark token refused: {check.Failure}");
            }
        }
    }

    [Benchmark(Baseline = true)]
    public bool Hs256() => _validator.ValidateAsync(_hs256).AsTask().GetAwaiter().GetResult().IsValid;

    [Benchmark]
    public bool Es256() => _validator.ValidateAsync(_es256).AsTask().GetAwaiter().GetResult().IsValid;

    [GlobalCleanup]
    public void Dispose()
    {
        _key.Dispose();
        if (_folder is not null && Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
