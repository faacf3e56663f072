using System.Buffers;
using System.Text;
using System.Text.Unicode;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary><see cref="FrameWriter"/> and <see cref="FrameBuilder"/>: opcodes, FIN, close frames, control-frame limits.</summary>
public class FrameWriterTests
{
    [Fact]
    public void Convenience_writers_use_the_right_opcodes()
    {
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteText(output, "t"u8);
        FrameWriter.WriteBinary(output, [0xB]);
        FrameWriter.WritePing(output, "p"u8);
        FrameWriter.WritePong(output, []);

        Assert.Equal("810174" + "82010B" + "890170" + "8A00", Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void Fin_bit_is_cleared_for_non_final_fragments()
    {
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteFrame(output, WebSocketOpcode.Text, "a"u8, fin: false);
        FrameWriter.WriteFrame(output, WebSocketOpcode.Continuation, "b"u8, fin: false);
        FrameWriter.WriteFrame(output, WebSocketOpcode.Continuation, "c"u8, fin: true);

        Assert.Equal("010161" + "000162" + "800163", Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void Frames_written_by_the_server_writer_read_back_with_the_client_reader()
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteText(output, "héllo"u8);
        FrameWriter.WriteFrame(output, WebSocketOpcode.Binary, [1, 2], fin: false);
        FrameWriter.WritePing(output, "x"u8);
        FrameWriter.WriteFrame(output, WebSocketOpcode.Continuation, [3], fin: true);
        FrameWriter.WriteClose(output, CloseCode.GoingAway, "bye");

        using var feeder = FrameFeeder.Client();
        feeder.PushOneByteAtATime(output.WrittenSpan);

        Assert.Equal(
            [
                Received.Of(WebSocketMessageType.Text, "héllo"u8),
                Received.Of(WebSocketMessageType.Ping, "x"u8),
                Received.Of(WebSocketMessageType.Binary, [1, 2, 3]),
                Received.Of(WebSocketMessageType.Close, Wire.ClosePayload(CloseCode.GoingAway, "bye"u8)),
            ],
            feeder.Messages);
    }

    // ---- close frames ----

    [Fact]
    public void WriteClose_writes_code_and_reason()
    {
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteClose(output, CloseCode.NormalClosure, "bye");

        Assert.Equal("880503E8627965", Convert.ToHexString(output.WrittenSpan));
    }

    [Theory]
    [InlineData(CloseCode.NoStatusReceived)]
    [InlineData(CloseCode.AbnormalClosure)]
    [InlineData((ushort)1015)]
    public void Local_only_codes_are_written_as_an_empty_close(ushort code)
    {
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteClose(output, code, "ignored reason");

        Assert.Equal("8800", Convert.ToHexString(output.WrittenSpan));
        Assert.Equal(0, FrameWriter.EncodeClosePayload(new byte[125], code, "x"));
    }

    [Theory]
    [InlineData("a", 200)]
    [InlineData("é", 100)]    // 2 bytes: 61 fit (122 bytes), the 62nd would make 124
    [InlineData("€", 50)]     // 3 bytes: 41 fit (123 bytes)
    [InlineData("😀", 40)]    // 4 bytes (surrogate pair): 30 fit (120 bytes)
    public void Long_reasons_are_cut_to_123_bytes_at_a_character_boundary(string unit, int repeat)
    {
        for (int padding = 0; padding < 4; padding++)
        {
            string reason = new string('x', padding) + string.Concat(Enumerable.Repeat(unit, repeat));
            var output = new ArrayBufferWriter<byte>();

            FrameWriter.WriteClose(output, CloseCode.PolicyViolation, reason);

            byte[] frame = output.WrittenSpan.ToArray();
            byte[] written = frame[4..];
            byte[] expected = LongestWholeCharacterPrefix(reason, FrameWriter.MaxCloseReasonBytes);
            Assert.Equal(0x88, frame[0]);
            Assert.Equal(2 + expected.Length, frame[1]);
            Assert.Equal("03F0", Convert.ToHexString(frame, 2, 2));
            Assert.True(written.Length <= 123);
            Assert.True(Utf8.IsValid(written));
            Assert.Equal(expected, written);
            Assert.True(written.Length > 123 - Encoding.UTF8.GetByteCount(unit), "the cut must not drop a character that fits");
        }
    }

    [Fact]
    public void Close_reason_of_exactly_123_bytes_is_kept_whole()
    {
        string reason = new string('a', 119) + "😀"; // 119 + 4
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteClose(output, 4000, reason);

        Assert.Equal(2 + 2 + 123, output.WrittenCount);
        Assert.Equal(Encoding.UTF8.GetBytes(reason), output.WrittenSpan[4..].ToArray());
    }

    [Fact]
    public void Close_reason_with_a_lone_surrogate_becomes_a_replacement_character()
    {
        var output = new ArrayBufferWriter<byte>();

        FrameWriter.WriteClose(output, 1000, "a\uD800b");

        Assert.Equal("880703E861EFBFBD62", Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void EncodeClosePayload_never_writes_more_than_123_reason_bytes_even_with_room_to_spare()
    {
        byte[] destination = new byte[400];

        int length = FrameWriter.EncodeClosePayload(destination, 1000, new string('q', 300));

        Assert.Equal(125, length);
        Assert.All(destination[125..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void EncodeClosePayload_respects_a_small_destination()
    {
        byte[] destination = new byte[6];

        int length = FrameWriter.EncodeClosePayload(destination, 1001, "abcdef");

        Assert.Equal(6, length);
        Assert.Equal("03E961626364", Convert.ToHexString(destination));
    }

    // ---- control frame limits ----

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Pong)]
    [InlineData(WebSocketOpcode.Close)]
    public void Control_frames_over_125_bytes_throw(WebSocketOpcode opcode)
    {
        byte[] payload = new byte[126];
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => FrameWriter.WriteFrame(output, opcode, payload));
        Assert.Throws<ArgumentException>(() => FrameWriter.WriteMaskedFrame(output, opcode, payload, 1));
        Assert.Throws<ArgumentException>(() => FrameWriter.WriteFrame(new byte[200], opcode, payload));
        Assert.Equal(0, output.WrittenCount);

        FrameWriter.WriteFrame(output, opcode, payload.AsSpan(0, 125));
        Assert.Equal(127, output.WrittenCount);
    }

    [Fact]
    public void Ping_and_pong_helpers_refuse_oversized_payloads()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<ArgumentException>(() => FrameWriter.WritePing(output, new byte[126]));
        Assert.Throws<ArgumentException>(() => FrameWriter.WritePong(output, new byte[1000]));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Close)]
    public void Fragmented_control_frames_throw(WebSocketOpcode opcode)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => FrameWriter.WriteFrame(output, opcode, [], fin: false));
        Assert.Throws<ArgumentException>(() => FrameWriter.WriteMaskedFrame(output, opcode, [], 7, fin: false));
        Assert.Throws<ArgumentException>(() => FrameWriter.WriteFrame(new byte[10], opcode, [], fin: false));
    }

    [Fact]
    public void Span_writer_reports_the_bytes_written()
    {
        byte[] destination = new byte[300];

        int written = FrameWriter.WriteFrame(destination, WebSocketOpcode.Binary, new byte[200]);

        Assert.Equal(204, written);
        Assert.Equal("827E00C8", Convert.ToHexString(destination, 0, 4));
    }

    // ---- FrameBuilder ----

    [Theory]
    [InlineData(0, WebSocketOpcode.Text)]
    [InlineData(125, WebSocketOpcode.Text)]
    [InlineData(126, WebSocketOpcode.Binary)]
    [InlineData(65535, WebSocketOpcode.Binary)]
    [InlineData(65536, WebSocketOpcode.Text)]
    [InlineData(0, WebSocketOpcode.Ping)]
    [InlineData(125, WebSocketOpcode.Pong)]
    public void FrameBuilder_produces_the_same_bytes_as_WriteFrame(int length, WebSocketOpcode opcode)
    {
        byte[] payload = opcode == WebSocketOpcode.Text ? TextSamples.RandomUtf8OfLength(new Random(length), length) : Wire.RandomBytes(new Random(length), length);
        using var builder = new FrameBuilder(initialCapacity: 16);

        WriteInPieces(builder, payload, new Random(length + 1));
        Assert.Equal(length, builder.PayloadLength);
        Assert.Equal(payload, builder.Payload.ToArray());
        ReadOnlyMemory<byte> frame = builder.Complete(opcode);

        Assert.Equal(Wire.WriterUnmasked(opcode, payload), frame.ToArray());
        Assert.Equal(frame.ToArray(), builder.Frame.ToArray());
    }

    [Fact]
    public void FrameBuilder_can_be_reset_and_reused()
    {
        using var builder = new FrameBuilder();
        var rng = new Random(17);
        int[] sizes = [70000, 3, 0, 126, 65535, 125, 65536, 1];

        foreach (int size in sizes)
        {
            byte[] payload = Wire.RandomBytes(rng, size);
            builder.Reset();
            Assert.Equal(0, builder.PayloadLength);

            WriteInPieces(builder, payload, rng);
            ReadOnlyMemory<byte> frame = builder.Complete(WebSocketOpcode.Binary);

            Assert.Equal(Wire.WriterUnmasked(WebSocketOpcode.Binary, payload), frame.ToArray());
        }
    }

    [Fact]
    public void FrameBuilder_works_as_a_Utf8JsonWriter_target()
    {
        using var builder = new FrameBuilder();
        using (var json = new System.Text.Json.Utf8JsonWriter(builder))
        {
            json.WriteStartObject();
            json.WriteString("k", "v");
            json.WriteEndObject();
        }

        ReadOnlyMemory<byte> frame = builder.Complete();

        Assert.Equal(Wire.WriterUnmasked(WebSocketOpcode.Text, "{\"k\":\"v\"}"u8), frame.ToArray());
    }

    [Fact]
    public void FrameBuilder_guards_its_state()
    {
        using var builder = new FrameBuilder();
        Assert.Throws<InvalidOperationException>(() => builder.Frame);

        builder.Write(new byte[126]);
        Assert.Throws<InvalidOperationException>(() => builder.Complete(WebSocketOpcode.Ping));

        builder.Complete(WebSocketOpcode.Binary);
        builder.Reset();
        Assert.Throws<InvalidOperationException>(() => builder.Frame);
    }

    private static void WriteInPieces(FrameBuilder builder, byte[] payload, Random rng)
    {
        int written = 0;
        while (written < payload.Length)
        {
            int chunk = Math.Min(payload.Length - written, rng.Next(1, 20_000));
            if (rng.Next(2) == 0)
            {
                Span<byte> span = builder.GetSpan(chunk);
                payload.AsSpan(written, chunk).CopyTo(span);
            }
            else
            {
                Memory<byte> memory = builder.GetMemory(chunk);
                payload.AsMemory(written, chunk).CopyTo(memory);
            }

            builder.Advance(chunk);
            written += chunk;
        }
    }

    /// <summary>The reference truncation: whole scalars only, as many as fit in <paramref name="limit"/> bytes.</summary>
    private static byte[] LongestWholeCharacterPrefix(string text, int limit)
    {
        var bytes = new List<byte>();
        Span<byte> buffer = stackalloc byte[4];
        foreach (Rune rune in text.EnumerateRunes())
        {
            int size = rune.EncodeToUtf8(buffer);
            if (bytes.Count + size > limit)
            {
                break;
            }

            for (int i = 0; i < size; i++)
            {
                bytes.Add(buffer[i]);
            }
        }

        return [.. bytes];
    }
}
