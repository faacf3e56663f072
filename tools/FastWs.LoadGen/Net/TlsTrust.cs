using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastWs.LoadGen.Net;

/// <summary>
/// The client TLS settings for <c>wss://</c> targets: TLS 1.2 or 1.3, and whom to trust: the system's roots (the
/// default), the certificates of a PEM file (<c>--ca FILE</c>: a test's self-signed certificate or its CA, chain and
/// host name still checked), or anything (<c>--insecure</c>: encryption only, for throwaway test certificates).
/// </summary>
internal static class TlsTrust
{
    /// <summary>Builds the options, or returns an error message (unreadable or empty --ca file, both options given).</summary>
    public static (SslClientAuthenticationOptions? Options, string? Error) Create(Uri uri, string? caFile, bool insecure)
    {
        if (caFile is not null && insecure)
        {
            return (null, "--ca and --insecure are alternatives");
        }

        var options = new SslClientAuthenticationOptions
        {
            // The host of the URL: SNI for a name (not sent for an IP address) and the name the certificate must carry.
            TargetHost = uri.IdnHost,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };

        if (insecure)
        {
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        else if (caFile is not null)
        {
            var roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPemFile(caFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                return (null, $"--ca {caFile}: {ex.Message}");
            }

            if (roots.Count == 0)
            {
                return (null, $"--ca {caFile}: no PEM certificate in the file");
            }

            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(roots);
            options.CertificateChainPolicy = policy;
        }

        return (options, null);
    }

    /// <summary>For the report: how the server's certificate is checked.</summary>
    public static string Describe(string? caFile, bool insecure) =>
        insecure ? "TLS 1.2/1.3, certificate NOT checked (--insecure)"
        : caFile is not null ? $"TLS 1.2/1.3, trusting {caFile}"
        : "TLS 1.2/1.3, system trust store";
}
