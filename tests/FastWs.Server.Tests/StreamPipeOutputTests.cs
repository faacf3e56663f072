using System.IO.Pipelines;
using System.Net;
using FastWs.Protocol.Frames;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// Output under TLS: the connection writes into a stream's <see cref="PipeWriter"/> (the TLS middleware's), which
/// must not be written to while a flush is still pending. What a congested connection writes meanwhile (replies,
/// its close frame) is held and sent, in order and complete, once the flush is done.
/// </summary>
public sealed class StreamPipeOutputTests
{
    [Fact]
    public async Task Frames_written_while_a_flush_is_pending_follow_it_complete_and_in_order()
    {
        using var stream = new GatedStream();
        PipeWriter writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        var connection = new WebSocketConnection(DetachedContext.CreateTls(writer), new ServerMetrics(), IPAddress.Loopback);

        byte[] data = Frame(WebSocketOpcode.Text, 'd', 5000);
        stream.Hold();
        Assert.Equal(DataWrite.WrittenNeedsFlush, connection.WriteDirect(data, sendThrough: false));
        connection.Flush();
        Assert.True(connection.IsCongested, "the flush waits on the held stream");

        // While the flush is pending: replies (more than one buffer's worth), a skipped data frame, and the close.
        var replies = new List<byte[]>();
        for (int i = 0; i < 4; i++)
        {
            byte[] reply = Frame(WebSocketOpcode.Text, (char)('a' + i), 3000);
            replies.Add(reply);
            connection.WriteControl(reply);
            connection.Flush();
        }

        Assert.Equal(DataWrite.Skipped, connection.WriteDirect(Frame(WebSocketOpcode.Text, 's', 10), sendThrough: false));
        Assert.True(connection.TrySendClose(CloseCode.GoingAway, "bye"));

        stream.Release();
        await TestServer.WaitUntilAsync(() => !connection.IsCongested, "the held flush to finish");
        byte[] expected = [.. data, .. replies.SelectMany(r => r), .. CloseFrame()];
        await TestServer.WaitUntilAsync(() => stream.Written().Length >= expected.Length, () => $"{expected.Length} bytes to be written (got {stream.Written().Length})");

        Assert.Equal(expected, stream.Written());
        connection.MarkEnded();
        await writer.CompleteAsync();
    }

    private static byte[] Frame(WebSocketOpcode opcode, char fill, int length)
    {
        var frame = new System.Buffers.ArrayBufferWriter<byte>(length + 16);
        FrameWriter.WriteFrame(frame, opcode, Enumerable.Repeat((byte)fill, length).ToArray());
        return frame.WrittenSpan.ToArray();
    }

    private static byte[] CloseFrame()
    {
        var frame = new System.Buffers.ArrayBufferWriter<byte>(64);
        FrameWriter.WriteClose(frame, CloseCode.GoingAway, "bye");
        return frame.WrittenSpan.ToArray();
    }
}
