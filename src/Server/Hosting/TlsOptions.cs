namespace FastWs.Server.Hosting;

/// <summary>
/// TLS for one endpoint (<c>FastWs:WebSocket:Tls</c> or <c>FastWs:Http:Tls</c>): a PEM certificate and a PEM
/// private key, or a PFX in <see cref="CertificateFile"/> with its <see cref="Password"/> and no key file. Off
/// while <see cref="CertificateFile"/> is empty. The files are loaded at start-up (a bad one stops it) and
/// loaded again when they change (see <see cref="CertificateSource"/>).
/// </summary>
public sealed class TlsOptions
{
    /// <summary>
    /// The certificate: PEM (the server's certificate first, then any intermediates to send with it), or a PFX
    /// (PKCS#12) when <see cref="KeyFile"/> is empty. A PEM file without a key file must hold the key too.
    /// </summary>
    public string? CertificateFile { get; set; }

    /// <summary>The PEM private key (PKCS#8, PKCS#1 or SEC1; encrypted PKCS#8 with <see cref="Password"/>).</summary>
    public string? KeyFile { get; set; }

    /// <summary>The PFX's password, or the encrypted PEM key's; empty for none.</summary>
    public string? Password { get; set; }

    /// <summary>Whether the endpoint speaks TLS: a certificate file is set.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificateFile);
}
