using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastWs.Server.Hosting;

/// <summary>
/// One endpoint's TLS certificate, read from the files its <see cref="TlsOptions"/> name, and what Kestrel's TLS
/// handshake uses (<see cref="OnHandshake"/>). A file that cannot be used stops start-up with a
/// <see cref="TlsCertificateException"/> naming the setting. Afterwards, at most once per <see cref="CheckInterval"/>
/// and only when a handshake comes, the files' last-write times are compared with those of the certificate in
/// use; a change loads them again, and a load that fails is logged and keeps the certificate in use.
/// </summary>
/// <remarks>
/// The handshake gets a ready <see cref="SslStreamCertificateContext"/> (built once per load) rather than a
/// certificate from Kestrel's <c>ServerCertificateSelector</c>: with a selector Kestrel ignores the chain, so the
/// intermediates in the certificate file would never reach clients, and a context made per handshake from the
/// selected certificate would redo the chain's construction for every connection.
/// </remarks>
internal sealed class CertificateSource
{
    /// <summary>How often, at most, the files' last-write times are looked at (two <c>stat</c> calls).</summary>
    internal static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>Both endpoints speak HTTP/1.1 only (the WebSocket upgrade is an HTTP/1.1 request).</summary>
    private static readonly List<SslApplicationProtocol> s_http11 = [SslApplicationProtocol.Http11];

    private readonly TlsOptions _tls;
    private readonly string _setting;
    private readonly Lock _reloadLock = new();
    private Loaded _current;
    private long _nextCheckMs;

    // The files' last-write times at the last check (guarded by _reloadLock): a load that failed is not tried again
    // until a file changes once more, so a broken file is reported once, not every second.
    private DateTime _seenCertificateWrite;
    private DateTime _seenKeyWrite;

    private CertificateSource(TlsOptions tls, string setting, Loaded first)
    {
        _tls = tls;
        _setting = setting;
        _current = first;
        _seenCertificateWrite = first.CertificateWritten;
        _seenKeyWrite = first.KeyWritten;
        _nextCheckMs = Environment.TickCount64 + (long)CheckInterval.TotalMilliseconds;
    }

    /// <summary>Set once the host's logging exists (the certificate is loaded before, so that a bad file stops start-up first).</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>The certificate handshakes present now (after a reload if one is due).</summary>
    public X509Certificate2 Certificate => Current().Certificate;

    /// <summary>Loads the certificate of <paramref name="tls"/>, whose settings are under <paramref name="setting"/> (e.g. "FastWs:WebSocket:Tls").</summary>
    /// <exception cref="TlsCertificateException">A file is missing or unusable; the message names the setting.</exception>
    public static CertificateSource Load(TlsOptions tls, string setting)
    {
        ArgumentNullException.ThrowIfNull(tls);
        return new CertificateSource(tls, setting, Read(tls, setting));
    }

    /// <summary>Kestrel's per-connection TLS options: the current certificate context, HTTP/1.1, no client certificate.</summary>
    public ValueTask<SslServerAuthenticationOptions> OnHandshake(TlsHandshakeCallbackContext context) => new(new SslServerAuthenticationOptions
    {
        ServerCertificateContext = Current().Context,
        ApplicationProtocols = s_http11,
        ClientCertificateRequired = false,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
    });

    /// <summary>One line for the start-up log.</summary>
    public string Describe()
    {
        X509Certificate2 certificate = Certificate;
        return $"{certificate.Subject}, thumbprint {certificate.Thumbprint}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
    }

    private Loaded Current()
    {
        long now = Environment.TickCount64;
        long due = Volatile.Read(ref _nextCheckMs);
        if (now >= due && Interlocked.CompareExchange(ref _nextCheckMs, now + (long)CheckInterval.TotalMilliseconds, due) == due)
        {
            ReloadIfChanged();
        }

        return Volatile.Read(ref _current);
    }

    /// <summary>Loads the files again if either was written since the last check.</summary>
    internal void ReloadIfChanged()
    {
        if (!_reloadLock.TryEnter())
        {
            return; // another handshake is at it; this one uses the certificate in use
        }

        try
        {
            // A missing file reads as a time of 1601: a change, whose load then fails and keeps the old certificate.
            DateTime certificateWritten = File.GetLastWriteTimeUtc(_tls.CertificateFile!);
            DateTime keyWritten = KeyFileOf(_tls) is { } keyFile ? File.GetLastWriteTimeUtc(keyFile) : default;
            if (certificateWritten == _seenCertificateWrite && keyWritten == _seenKeyWrite)
            {
                return;
            }

            _seenCertificateWrite = certificateWritten;
            _seenKeyWrite = keyWritten;
            Loaded next = Read(_tls, _setting);
            // The old certificate is not disposed: handshakes under way may still be using it.
            Volatile.Write(ref _current, next);
            ServerLog.TlsCertificateReloaded(Logger, _setting, Describe(next.Certificate));
        }
        catch (TlsCertificateException ex)
        {
            ServerLog.TlsCertificateReloadFailed(Logger, _setting, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ServerLog.TlsCertificateCheckFailed(Logger, _setting, ex.Message);
        }
        finally
        {
            _reloadLock.Exit();
        }
    }

    private static string Describe(X509Certificate2 certificate) => $"{certificate.Subject}, thumbprint {certificate.Thumbprint}";

    private static string? KeyFileOf(TlsOptions tls) => string.IsNullOrWhiteSpace(tls.KeyFile) ? null : tls.KeyFile;

    private static Loaded Read(TlsOptions tls, string setting)
    {
        string certificateFile = tls.CertificateFile!;
        string? keyFile = KeyFileOf(tls);
        string? password = string.IsNullOrEmpty(tls.Password) ? null : tls.Password;

        // The times are taken before the reads: a file replaced during a read is then read again at the next check.
        DateTime certificateWritten = WrittenAt(certificateFile, setting + ":CertificateFile");
        DateTime keyWritten = keyFile is null ? default : WrittenAt(keyFile, setting + ":KeyFile");

        (X509Certificate2 certificate, X509Certificate2Collection chain) = keyFile is not null || IsPem(certificateFile, setting)
            ? ReadPem(certificateFile, keyFile, password, setting)
            : ReadPfx(certificateFile, password, setting);
        try
        {
            // Offline: the chain is what the files hold (and the system store); start-up never waits on a download.
            var context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
            return new Loaded(certificate, context, certificateWritten, keyWritten);
        }
        catch (CryptographicException ex)
        {
            throw new TlsCertificateException($"{setting}:CertificateFile: the certificate in {Path.GetFullPath(certificateFile)} cannot serve TLS: {ex.Message}", ex);
        }
    }

    private static DateTime WrittenAt(string path, string settingName)
    {
        if (!File.Exists(path))
        {
            throw new TlsCertificateException($"{settingName}: file not found: {Path.GetFullPath(path)}");
        }

        return File.GetLastWriteTimeUtc(path);
    }

    /// <summary>PEM is text starting with "-----BEGIN" (after any blank space); anything else is taken for a PFX.</summary>
    private static bool IsPem(string path, string setting)
    {
        Span<byte> start = stackalloc byte[64];
        int read;
        try
        {
            using FileStream file = File.OpenRead(path);
            read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsCertificateException($"{setting}:CertificateFile: cannot read {Path.GetFullPath(path)}: {ex.Message}", ex);
        }

        ReadOnlySpan<byte> text = start[..read].TrimStart(" \t\r\n"u8);
        return text.StartsWith("-----BEGIN"u8);
    }

    private static (X509Certificate2 Certificate, X509Certificate2Collection Chain) ReadPem(string certificateFile, string? keyFile, string? password, string setting)
    {
        string certificatePath = Path.GetFullPath(certificateFile);
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPemFile(certificateFile);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new TlsCertificateException($"{setting}:CertificateFile: cannot read a PEM certificate from {certificatePath}: {ex.Message}", ex);
        }

        if (chain.Count == 0)
        {
            throw new TlsCertificateException($"{setting}:CertificateFile: no CERTIFICATE in {certificatePath}");
        }

        // The first certificate is the server's (CreateFromPemFile takes it too); the rest are sent along as its chain.
        X509Certificate2 first = chain[0];
        chain.RemoveAt(0);
        first.Dispose();

        string keySetting = keyFile is null ? setting + ":CertificateFile" : setting + ":KeyFile";
        try
        {
            X509Certificate2 certificate = password is null
                ? X509Certificate2.CreateFromPemFile(certificateFile, keyFile)
                : X509Certificate2.CreateFromEncryptedPemFile(certificateFile, password, keyFile);
            return (certificate, chain);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            string passwordHint = password is null ? "" : $" (or {setting}:Password is wrong)";
            throw new TlsCertificateException(
                $"{keySetting}: no private key for the certificate in {Path.GetFullPath(keyFile ?? certificateFile)}{passwordHint}: {ex.Message}", ex);
        }
    }

    private static (X509Certificate2 Certificate, X509Certificate2Collection Chain) ReadPfx(string path, string? password, string setting)
    {
        string fullPath = Path.GetFullPath(path);
        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, password);
        }
        catch (CryptographicException ex)
        {
            throw new TlsCertificateException(
                $"{setting}:Password: cannot open the PFX in {setting}:CertificateFile ({fullPath}) with this password, or it is not a PFX: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsCertificateException($"{setting}:CertificateFile: cannot read {fullPath}: {ex.Message}", ex);
        }

        X509Certificate2? certificate = null;
        var chain = new X509Certificate2Collection();
        foreach (X509Certificate2 each in all)
        {
            if (certificate is null && each.HasPrivateKey)
            {
                certificate = each;
            }
            else
            {
                chain.Add(each);
            }
        }

        return certificate is null
            ? throw new TlsCertificateException($"{setting}:CertificateFile: the PFX {fullPath} holds no certificate with a private key")
            : (certificate, chain);
    }

    /// <summary>A loaded certificate, its handshake context, and the files' last-write times it was read at.</summary>
    private sealed record Loaded(X509Certificate2 Certificate, SslStreamCertificateContext Context, DateTime CertificateWritten, DateTime KeyWritten);
}
