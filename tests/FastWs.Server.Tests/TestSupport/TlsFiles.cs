using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// Self-signed server certificates (ECDSA P-256, for 127.0.0.1 and localhost) written to a temporary folder the
/// way an operator would hand them to the server: <see cref="CertificateFile"/> + <see cref="KeyFile"/> (PEM), and
/// <see cref="PfxFile"/> with <see cref="Password"/>. <see cref="Write"/> replaces them with a new certificate.
/// </summary>
internal sealed class TlsFiles : IDisposable
{
    public const string Password = "test-password";

    private readonly string _directory = Directory.CreateTempSubdirectory("fastws-tls-").FullName;

    public TlsFiles()
    {
        Write(NewCertificate());
    }

    public string CertificateFile => Path.Combine(_directory, "server.crt");

    public string KeyFile => Path.Combine(_directory, "server.key");

    public string PfxFile => Path.Combine(_directory, "server.pfx");

    /// <summary>The certificate the files hold now.</summary>
    public X509Certificate2 Certificate { get; private set; } = null!;

    /// <summary>A path in the folder that does not exist.</summary>
    public string Missing => Path.Combine(_directory, "missing.crt");

    public static X509Certificate2 NewCertificate(string name = "FastWs test")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
    }

    /// <summary>Writes <paramref name="certificate"/> (with its key) as PEM certificate, PEM key and PFX.</summary>
    public void Write(X509Certificate2 certificate)
    {
        using ECDsa key = certificate.GetECDsaPrivateKey()!;
        File.WriteAllText(CertificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(KeyFile, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(PfxFile, certificate.Export(X509ContentType.Pkcs12, Password));
        Certificate = certificate;
    }

    /// <summary>A validation callback for clients: accepts the certificate the files hold now, and only that one.</summary>
    public RemoteCertificateValidationCallback Trusts => (_, presented, _, _) =>
        presented is not null && presented.GetCertHashString() == Certificate.Thumbprint;

    /// <summary>An HTTP client for the server's HTTPS endpoint that trusts these files' certificate.</summary>
    public HttpClient HttpClient(Uri baseAddress) => new(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = Trusts } })
    {
        BaseAddress = baseAddress,
        Timeout = TestServer.DefaultTimeout,
    };

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is no reason to fail a test.
        }
    }
}
