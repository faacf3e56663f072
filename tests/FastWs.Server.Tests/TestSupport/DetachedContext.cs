using System.IO.Pipelines;
using FastWs.Server.Connections;
using Microsoft.AspNetCore.Connections;

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

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
