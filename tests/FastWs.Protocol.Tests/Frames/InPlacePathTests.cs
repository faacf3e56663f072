using System.Buffers;
using System.Runtime.InteropServices;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>
/// The zero-copy path: a whole single-frame data message in one contiguous span is unmasked in the caller's
/// buffer and handed out from there; everything else is copied into the reader's own (pooled) buffer.
/// </summary>
public class InPlacePathTests
{
    [Fact]
    public void A_contiguous_masked_frame_is_unmasked_in_place_and_not_copied()
    {
        byte[] payload = "in place, please"u8.ToArray();
        byte[] input = Wire.WriterMasked(WebSocketOpcode.Text, payload, 0xA1B2C3D4);
        var buffer = new ReadOnlySequence<byte>(input);
        using var reader = new WebSocketReader();

        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref buffer, out WebSocketMessage message));

        Assert.True(MemoryMarshal.TryGetArray(message.Payload, out ArraySegment<byte> segment));
        Assert.Same(input, segment.Array);
        Assert.Equal(6, segment.Offset);
        Assert.Equal(payload, input[6..]); // the input itself now holds the unmasked payload
        Assert.Equal(payload, message.Payload.ToArray());
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void An_unmasked_frame_read_by_a_client_is_handed_out_from_the_input()
    {
        byte[] input = Wire.WriterUnmasked(WebSocketOpcode.Binary, [5, 6, 7]);
        var buffer = new ReadOnlySequence<byte>(input);
        using var reader = new WebSocketReader(WebSocketReaderOptions.ClientDefault);

        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref buffer, out WebSocketMessage message));

        Assert.True(MemoryMarshal.TryGetArray(message.Payload, out ArraySegment<byte> segment));
        Assert.Same(input, segment.Array);
        Assert.Equal(new byte[] { 5, 6, 7 }, message.Payload.ToArray());
    }

    [Fact]
    public void A_frame_split_across_segments_is_copied_and_the_input_left_masked()
    {
        byte[] payload = "split in two"u8.ToArray();
        byte[] input = Wire.WriterMasked(WebSocketOpcode.Text, payload, 0x01020304);
        byte[] pristine = (byte[])input.Clone();
        ReadOnlySequence<byte> buffer = SegmentedSequence.Split(input, 10);
        ReadOnlySequence<byte> original = buffer;
        using var reader = new WebSocketReader();

        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref buffer, out WebSocketMessage message));

        Assert.Equal(payload, message.Payload.ToArray());
        Assert.Equal(pristine, original.ToArray()); // the segments still hold the masked bytes
        Assert.True(!MemoryMarshal.TryGetArray(message.Payload, out ArraySegment<byte> segment) || !ReferenceEquals(segment.Array, input));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Fragmented_messages_never_touch_the_input()
    {
        byte[] input = Wire.Concat(
            Wire.WriterMasked(WebSocketOpcode.Text, "ab"u8, 0x11223344, fin: false),
            Wire.WriterMasked(WebSocketOpcode.Continuation, "cd"u8, 0x55667788, fin: true));
        byte[] pristine = (byte[])input.Clone();
        var buffer = new ReadOnlySequence<byte>(input);
        using var reader = new WebSocketReader();

        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref buffer, out WebSocketMessage message));

        Assert.Equal("abcd"u8.ToArray(), message.Payload.ToArray());
        Assert.Equal(pristine, input);
    }

    [Fact]
    public void In_place_payload_stays_valid_after_the_next_read_while_the_input_lives()
    {
        // The in-place payload lives in the caller's memory, so it is not recycled by the next Read.
        byte[] input = Wire.Concat(
            Wire.WriterMasked(WebSocketOpcode.Binary, [1, 2, 3], 0xCAFEBABE),
            Wire.WriterMasked(WebSocketOpcode.Binary, [4, 5], 0x0BADF00D));
        var buffer = new ReadOnlySequence<byte>(input);
        using var reader = new WebSocketReader();

        reader.Read(ref buffer, out WebSocketMessage first);
        reader.Read(ref buffer, out WebSocketMessage second);

        Assert.Equal(new byte[] { 1, 2, 3 }, first.Payload.ToArray());
        Assert.Equal(new byte[] { 4, 5 }, second.Payload.ToArray());
    }
}
