using System.Buffers;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>The three payload length encodings (7-bit, 16-bit, 64-bit) at their edges, written and read back.</summary>
public class FrameLengthTests
{
    private const int RaisedLimit = 70_000;

    public static TheoryData<int, string> TextHeaders => new()
    {
        { 0, "8100" },
        { 1, "8101" },
        { 125, "817D" },
        { 126, "817E007E" },
        { 127, "817E007F" },
        { 65535, "817EFFFF" },
        { 65536, "817F0000000000010000" },
        { 70000, "817F0000000000011170" },
    };

    public static TheoryData<int> Lengths => [0, 1, 125, 126, 127, 65535, 65536, 70000];

    [Theory]
    [MemberData(nameof(TextHeaders))]
    public void Writer_uses_the_shortest_length_encoding(int length, string expectedHeaderHex)
    {
        byte[] payload = TextSamples.RandomUtf8OfLength(new Random(length), length);
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteFrame(output, WebSocketOpcode.Text, payload);

        byte[] frame = output.WrittenSpan.ToArray();
        int headerSize = expectedHeaderHex.Length / 2;
        Assert.Equal(expectedHeaderHex, Convert.ToHexString(frame, 0, headerSize));
        Assert.Equal(headerSize + length, frame.Length);
        Assert.Equal(payload, frame[headerSize..]);
        Assert.Equal(headerSize, FrameWriter.GetHeaderSize(length));
        Assert.Equal(headerSize + length, FrameWriter.GetFrameSize(length));
    }

    [Theory]
    [MemberData(nameof(TextHeaders))]
    public void Span_writer_and_header_writer_match_the_expected_header(int length, string expectedHeaderHex)
    {
        byte[] payload = new byte[length];
        byte[] frame = new byte[FrameWriter.MaxServerHeaderSize + length];

        int written = FrameWriter.WriteFrame(frame, WebSocketOpcode.Text, payload);
        byte[] header = new byte[FrameWriter.MaxServerHeaderSize];
        int headerSize = FrameWriter.WriteHeader(header, WebSocketOpcode.Text, length);

        Assert.Equal(expectedHeaderHex.Length / 2 + length, written);
        Assert.Equal(expectedHeaderHex, Convert.ToHexString(frame, 0, expectedHeaderHex.Length / 2));
        Assert.Equal(expectedHeaderHex, Convert.ToHexString(header, 0, headerSize));
    }

    [Theory]
    [InlineData(WebSocketOpcode.Binary, 300L, "827E012C")]
    [InlineData(WebSocketOpcode.Binary, 1L << 40, "827F0000010000000000")]
    [InlineData(WebSocketOpcode.Binary, long.MaxValue, "827F7FFFFFFFFFFFFFFF")]
    [InlineData(WebSocketOpcode.Ping, 5L, "8905")]
    [InlineData(WebSocketOpcode.Continuation, 2L, "8002")]
    public void Header_writer_encodes_any_length(WebSocketOpcode opcode, long length, string expectedHex)
    {
        byte[] header = new byte[FrameWriter.MaxServerHeaderSize];

        int size = FrameWriter.WriteHeader(header, opcode, length);

        Assert.Equal(expectedHex, Convert.ToHexString(header, 0, size));
    }

    [Fact]
    public void Header_writer_rejects_a_negative_length()
    {
        byte[] header = new byte[FrameWriter.MaxServerHeaderSize];
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameWriter.WriteHeader(header, WebSocketOpcode.Binary, -1));
    }

    [Theory]
    [MemberData(nameof(TextHeaders))]
    public void Masked_writer_sets_the_mask_bit_writes_the_key_and_masks_the_payload(int length, string unmaskedHeaderHex)
    {
        var rng = new Random(length + 1);
        byte[] payload = Wire.RandomBytes(rng, length);
        uint key = (uint)rng.Next() ^ ((uint)rng.Next() << 16);

        byte[] frame = Wire.WriterMasked(WebSocketOpcode.Binary, payload, key);

        byte[] expectedHeader = Convert.FromHexString(unmaskedHeaderHex);
        expectedHeader[0] = 0x82;
        expectedHeader[1] |= 0x80;
        int lengthEnd = expectedHeader.Length;
        Assert.Equal(expectedHeader, frame[..lengthEnd]);
        Assert.Equal(Wire.KeyBytes(key), frame[lengthEnd..(lengthEnd + 4)]);
        Assert.Equal(lengthEnd + 4 + length, frame.Length);
        Assert.Equal(lengthEnd + 4, FrameWriter.GetHeaderSize(length, masked: true));

        // Naive unmasking with the key bytes as they appear on the wire.
        byte[] keyOnWire = frame[lengthEnd..(lengthEnd + 4)];
        byte[] unmasked = new byte[length];
        for (int i = 0; i < length; i++)
        {
            unmasked[i] = (byte)(frame[lengthEnd + 4 + i] ^ keyOnWire[i % 4]);
        }

        Assert.Equal(payload, unmasked);
        Assert.Equal(Wire.Raw(0x82, payload, masked: true, key), frame);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Server_reads_masked_frames_of_every_length_encoding(int length)
    {
        var rng = new Random(1000 + length);
        var options = new WebSocketReaderOptions { Role = WebSocketRole.Server, MaxMessageSize = RaisedLimit };
        byte[] text = TextSamples.RandomUtf8OfLength(rng, length);
        byte[] binary = Wire.RandomBytes(rng, length);
        uint textKey = (uint)rng.Next() | 1u << 31;
        uint binaryKey = (uint)rng.Next();
        byte[] wire = Wire.Concat(
            Wire.WriterMasked(WebSocketOpcode.Text, text, textKey),
            Wire.WriterMasked(WebSocketOpcode.Binary, binary, binaryKey));
        Received[] expected = [Received.Of(WebSocketMessageType.Text, text), Received.Of(WebSocketMessageType.Binary, binary)];

        AssertAllWaysRead(wire, options, expected, seed: length, includeOneByte: length <= 1000);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Client_reads_unmasked_frames_of_every_length_encoding(int length)
    {
        var rng = new Random(2000 + length);
        var options = new WebSocketReaderOptions { Role = WebSocketRole.Client, MaxMessageSize = RaisedLimit };
        byte[] text = TextSamples.RandomUtf8OfLength(rng, length);
        byte[] binary = Wire.RandomBytes(rng, length);
        byte[] wire = Wire.Concat(
            Wire.WriterUnmasked(WebSocketOpcode.Binary, binary),
            Wire.WriterUnmasked(WebSocketOpcode.Text, text));
        Received[] expected = [Received.Of(WebSocketMessageType.Binary, binary), Received.Of(WebSocketMessageType.Text, text)];

        AssertAllWaysRead(wire, options, expected, seed: length, includeOneByte: length <= 1000);
    }

    [Theory]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(70000)]
    public void Large_frames_survive_one_byte_at_a_time(int length)
    {
        var rng = new Random(length);
        byte[] payload = Wire.RandomBytes(rng, length);
        byte[] wire = Wire.WriterMasked(WebSocketOpcode.Binary, payload, (uint)rng.Next());
        using var feeder = FrameFeeder.Server(RaisedLimit);

        feeder.PushOneByteAtATime(wire);

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
        Assert.Equal([Received.Of(WebSocketMessageType.Binary, payload)], feeder.Messages);
    }

    [Fact]
    public void Default_limit_accepts_exactly_64_KiB()
    {
        byte[] payload = Wire.RandomBytes(new Random(7), WebSocketReaderOptions.DefaultMaxMessageSize);
        using var feeder = new FrameFeeder();

        feeder.Push(Wire.WriterMasked(WebSocketOpcode.Binary, payload, 0x01020304));

        Assert.Equal([Received.Of(WebSocketMessageType.Binary, payload)], feeder.Messages);
    }

    [Theory]
    [InlineData(WebSocketRole.Server)]
    [InlineData(WebSocketRole.Client)]
    public void Non_minimal_length_encodings_are_read_by_their_value(WebSocketRole role)
    {
        // RFC 6455 asks senders for the minimal encoding; a reader that honours the declared length still
        // reads these correctly. The 16- and 64-bit forms here carry a 3-byte payload.
        bool masked = role == WebSocketRole.Server;
        byte[] key = Wire.KeyBytes(Wire.DefaultKey);
        byte[] payload = [1, 2, 3];
        byte[] body = masked ? [(byte)(1 ^ key[0]), (byte)(2 ^ key[1]), (byte)(3 ^ key[2])] : payload;
        byte mask = masked ? (byte)0x80 : (byte)0;
        byte[] keyPart = masked ? key : [];
        byte[] wire = Wire.Concat(
            [0x82, (byte)(mask | 126), 0, 3], keyPart, body,
            [0x82, (byte)(mask | 127), 0, 0, 0, 0, 0, 0, 0, 3], keyPart, body);

        using var feeder = FrameFeeder.For(role);
        feeder.Push(wire);

        Assert.Equal([Received.Of(WebSocketMessageType.Binary, payload), Received.Of(WebSocketMessageType.Binary, payload)], feeder.Messages);
    }

    private static void AssertAllWaysRead(byte[] wire, WebSocketReaderOptions options, Received[] expected, int seed, bool includeOneByte)
    {
        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, options, seed, includeOneByte))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"{name}: {feeder.Status} {feeder.ErrorCode} {feeder.Reader.ErrorReason}");
                Assert.True(expected.SequenceEqual(feeder.Messages), $"{name}: got [{string.Join(", ", feeder.Messages)}]");
                Assert.Equal(0, feeder.PendingBytes);
            }
        }
    }
}
