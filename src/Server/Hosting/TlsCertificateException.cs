namespace FastWs.Server.Hosting;

/// <summary>
/// A TLS certificate setting that cannot be used (a missing or unreadable file, a wrong password, a key that does not
/// match): the message starts with the setting's full name, so it reads as one line an operator can act on.
/// </summary>
public sealed class TlsCertificateException : Exception
{
    public TlsCertificateException()
    {
    }

    public TlsCertificateException(string message)
        : base(message)
    {
    }

    public TlsCertificateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
