using System.Buffers;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>
/// Steady state allocates nothing: reading (in-place and pooled paths) and writing frames. This measures bytes
/// allocated on the test's own thread, so it is exact and not timing-dependent.
/// </summary>
public class AllocationTests
{
    private const int WarmUp = 200;
    private const int Iterations = 2000;
    private const int Rounds = 3;

    [Fact]
    public void Reading_a_contiguous_masked_text_frame_in_place_allocates_nothing()
    {
        byte[] template = Wire.WriterMasked(WebSocketOpcode.Text, "steady state message, héllo €"u8, 0x5A5AA5A5);
        byte[] input = new byte[template.Length];
        using var reader = new WebSocketReader();

        int messages = 0;
        void Run()
        {
            // The reader unmasks in place, so refill the input from the template each time.
            template.CopyTo(input, 0);
            var buffer = new ReadOnlySequence<byte>(input);
            while (reader.Read(ref buffer, out WebSocketMessage message) == WebSocketReadStatus.Message)
            {
                messages += message.Payload.Length > 0 ? 1 : 0;
            }
        }

        long allocated = Measure(Run);

        Assert.Equal(0, allocated);
        Assert.Equal(WarmUp + Rounds * Iterations, messages);
        Assert.Equal(0, reader.ErrorCloseCode);
    }

    [Fact]
    public void Reading_a_fragmented_message_through_the_pooled_buffer_allocates_nothing()
    {
        byte[] input = Wire.Concat(
            Wire.WriterMasked(WebSocketOpcode.Text, new byte[700].Select(_ => (byte)'a').ToArray(), 0x01020304, fin: false),
            Wire.WriterMasked(WebSocketOpcode.Ping, "ping"u8, 0x0A0B0C0D),
            Wire.WriterMasked(WebSocketOpcode.Continuation, "ü€😀"u8, 0x10203040, fin: false),
            Wire.WriterMasked(WebSocketOpcode.Continuation, new byte[900].Select(_ => (byte)'z').ToArray(), 0x55555555, fin: true));
        byte[] pristine = (byte[])input.Clone();
        using var reader = new WebSocketReader();

        int messages = 0;
        int lastLength = 0;
        void Run()
        {
            var buffer = new ReadOnlySequence<byte>(input);
            while (reader.Read(ref buffer, out WebSocketMessage message) == WebSocketReadStatus.Message)
            {
                messages++;
                lastLength = message.Payload.Length;
            }
        }

        long allocated = Measure(Run);

        Assert.Equal(0, allocated);
        Assert.Equal(2 * (WarmUp + Rounds * Iterations), messages);
        Assert.Equal(700 + 9 + 900, lastLength);
        Assert.Equal(pristine, input); // the pooled path copies before unmasking
    }

    [Fact]
    public void Reading_a_frame_split_across_segments_allocates_nothing()
    {
        // A single frame whose payload is not contiguous goes through the pooled path too; the input is not
        // modified on that path, so the same sequence can be read again and again.
        byte[] frame = Wire.WriterMasked(WebSocketOpcode.Binary, Wire.RandomBytes(new Random(1), 3000), 0x77777777);
        ReadOnlySequence<byte> input = SegmentedSequence.Split(frame, 5, 100, 2000);
        using var reader = new WebSocketReader();

        int messages = 0;
        void Run()
        {
            ReadOnlySequence<byte> buffer = input;
            while (reader.Read(ref buffer, out WebSocketMessage message) == WebSocketReadStatus.Message)
            {
                messages += message.Payload.Length == 3000 ? 1 : 0;
            }
        }

        long allocated = Measure(Run);

        Assert.Equal(0, allocated);
        Assert.Equal(WarmUp + Rounds * Iterations, messages);
    }

    [Fact]
    public void Writing_frames_allocates_nothing()
    {
        byte[] small = Wire.RandomBytes(new Random(2), 100);
        byte[] large = Wire.RandomBytes(new Random(3), 70_000);
        var output = new ArrayBufferWriter<byte>(200_000);
        byte[] span = new byte[100_000];

        long total = 0;
        void Run()
        {
            output.ResetWrittenCount();
            FrameWriter.WriteText(output, small);
            FrameWriter.WriteFrame(output, WebSocketOpcode.Binary, large);
            FrameWriter.WritePing(output, small.AsSpan(0, 10));
            FrameWriter.WriteClose(output, CloseCode.GoingAway, "server shutting down – bye");
            FrameWriter.WriteMaskedFrame(output, WebSocketOpcode.Text, small, 0x12345678);
            total += output.WrittenCount;
            total += FrameWriter.WriteFrame(span, WebSocketOpcode.Binary, large);
            total += FrameWriter.WriteHeader(span, WebSocketOpcode.Text, 1L << 40);
        }

        long allocated = Measure(Run);

        Assert.Equal(0, allocated);
        Assert.True(total > 0);
    }

    [Fact]
    public void Reusing_a_FrameBuilder_allocates_nothing()
    {
        byte[] payload = Wire.RandomBytes(new Random(4), 5000);
        using var builder = new FrameBuilder(8192);

        long total = 0;
        void Run()
        {
            builder.Reset();
            builder.Write(payload);
            total += builder.Complete(WebSocketOpcode.Binary).Length;
        }

        long allocated = Measure(Run);

        Assert.Equal(0, allocated);
        Assert.Equal((WarmUp + Rounds * Iterations) * (5000 + 4L), total);
    }

    /// <summary>
    /// Bytes allocated by <see cref="Iterations"/> calls after a warm-up, the least of <see cref="Rounds"/> rounds.
    /// Code that allocates on every call allocates in every round; a one-off does not repeat. CI saw one once:
    /// 2,576 B in 2,000 fragmented reads, the size of one new 2 KB array from <c>ArrayPool.Shared</c> plus the
    /// pool's per-thread bookkeeping, which the pool (shared with every other test in the process) may rebuild.
    /// </summary>
    private static long Measure(Action run)
    {
        for (int i = 0; i < WarmUp; i++)
        {
            run();
        }

        long least = long.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Iterations; i++)
            {
                run();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
