using System.IO.Pipelines;
using FastWs.Server.Connections;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// A connection context with no server or socket behind it, for tests that make a <see cref="WebSocketConnection"/>
/// directly: its transport is an in-memory pipe, and it may offer a fake socket to send to.
/// </summary>
internal static class DetachedContext
{
    public static DefaultConnectionContext Create(ISocketSender? socket = null)
    {
        var pipe = new Pipe();
        var context = new DefaultConnectionContext { Transport = new DuplexPipe(pipe.Reader, pipe.Writer) };
        if (socket is not null)
        {
            context.Features.Set(socket);
        }

        return context;
    }

    /// <summary>A context as Kestrel's TLS middleware leaves it: a TLS feature, and output through <paramref name="output"/> (a stream's writer).</summary>
    public static DefaultConnectionContext CreateTls(PipeWriter output)
    {
        var pipe = new Pipe();
        var context = new DefaultConnectionContext { Transport = new DuplexPipe(pipe.Reader, output) };
        context.Features.Set<ITlsHandshakeFeature>(new TlsFeature());
        return context;
    }

    private sealed class TlsFeature : ITlsHandshakeFeature
    {
        public SslProtocols Protocol => SslProtocols.Tls13;

#pragma warning disable SYSLIB0058 // the interface still has the old per-algorithm properties; nothing reads them here
        public CipherAlgorithmType CipherAlgorithm => CipherAlgorithmType.None;

        public int CipherStrength => 0;

        public HashAlgorithmType HashAlgorithm => HashAlgorithmType.None;

        public int HashStrength => 0;

        public ExchangeAlgorithmType KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

        public int KeyExchangeStrength => 0;
#pragma warning restore SYSLIB0058
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
