using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>Every framing rule of RFC 6455 section 5 the reader enforces, each with the close code it calls for.</summary>
public class ProtocolViolationTests
{
    private const WebSocketRole Server = WebSocketRole.Server;

    public static TheoryData<byte> ReservedOpcodes => [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF];

    // ---- masking ----

    [Fact]
    public void Server_rejects_an_unmasked_frame()
    {
        AssertFailsEveryWay(Wire.Raw(0x81, "hi"u8, masked: false), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsAfter(2, Wire.Raw(0x82, new byte[300], masked: false), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    [Fact]
    public void Client_rejects_a_masked_frame()
    {
        AssertFailsEveryWay(Wire.Raw(0x81, "hi"u8, masked: true), WebSocketReaderOptions.ClientDefault, CloseCode.ProtocolError);
        AssertFailsAfter(2, Wire.Raw(0x89, "p"u8, masked: true), WebSocketReaderOptions.ClientDefault, CloseCode.ProtocolError);
    }

    [Fact]
    public void Masking_rule_applies_to_control_and_continuation_frames_too()
    {
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Text, "a", fin: false),
            Wire.Raw(0x80, "b"u8, masked: false));
        AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError, messagesBefore: 0);
        AssertFailsEveryWay(Wire.Raw(0x8A, [], masked: false), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    // ---- RSV bits ----

    [Theory]
    [InlineData(0x40)] // RSV1
    [InlineData(0x20)] // RSV2
    [InlineData(0x10)] // RSV3
    [InlineData(0x70)]
    public void Reserved_bits_without_an_extension_are_a_protocol_error(byte rsv)
    {
        AssertFailsEveryWay(Wire.Raw((byte)(0x81 | rsv), "x"u8, masked: true), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsEveryWay(Wire.Raw((byte)(0x89 | rsv), [], masked: true), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        // Detected from the first byte alone.
        AssertFailsAfter(1, Wire.Raw((byte)(0x82 | rsv), new byte[10], masked: true), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    [Theory]
    [InlineData(4, 0x40, true)]
    [InlineData(4, 0x20, false)]
    [InlineData(4, 0x10, false)]
    [InlineData(2, 0x20, true)]
    [InlineData(2, 0x40, false)]
    [InlineData(1, 0x10, true)]
    [InlineData(1, 0x40, false)]
    [InlineData(7, 0x70, true)]
    [InlineData(5, 0x50, true)]
    [InlineData(5, 0x60, false)]
    public void Negotiated_reserved_bits_are_allowed_and_only_those(byte allowed, byte rsvBits, bool accepted)
    {
        var options = new WebSocketReaderOptions { AllowedReservedBits = allowed };
        byte[] wire = Wire.Raw((byte)(0x82 | rsvBits), [1, 2, 3], masked: true);

        using var feeder = new FrameFeeder(options);
        feeder.Push(wire);

        if (accepted)
        {
            Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
            Assert.Equal([Received.Of(WebSocketMessageType.Binary, [1, 2, 3])], feeder.Messages);
        }
        else
        {
            Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Status);
            Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
        }
    }

    // ---- opcodes ----

    [Theory]
    [MemberData(nameof(ReservedOpcodes))]
    public void Reserved_opcodes_are_a_protocol_error(byte opcode)
    {
        AssertFailsEveryWay(Wire.Raw((byte)(0x80 | opcode), "x"u8, masked: true), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsEveryWay(Wire.Raw(opcode, "x"u8, masked: false), WebSocketReaderOptions.ClientDefault, CloseCode.ProtocolError);
        AssertFailsAfter(1, Wire.Raw((byte)(0x80 | opcode), new byte[50], masked: true), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);

        // Also in the middle of a fragmented message.
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Binary, [1], fin: false),
            Wire.Raw((byte)(0x80 | opcode), [], masked: true));
        AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    // ---- control frames ----

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Pong)]
    [InlineData(WebSocketOpcode.Close)]
    public void Control_frame_with_more_than_125_bytes_is_a_protocol_error(WebSocketOpcode opcode)
    {
        byte[] payload = opcode == WebSocketOpcode.Close ? Wire.ClosePayload(1000, new byte[124]) : new byte[126];
        Assert.Equal(126, payload.Length);
        byte[] wire = Wire.Raw(Wire.FirstByte(opcode), payload, masked: true);

        AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsAfter(2, wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsEveryWay(Wire.Raw(Wire.FirstByte(opcode), new byte[70_000], masked: false), WebSocketReaderOptions.ClientDefault, CloseCode.ProtocolError, oneByte: false);
    }

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Pong)]
    [InlineData(WebSocketOpcode.Close)]
    public void Control_frame_with_exactly_125_bytes_is_fine(WebSocketOpcode opcode)
    {
        byte[] payload = opcode == WebSocketOpcode.Close ? Wire.ClosePayload(1000, new byte[123]) : Wire.RandomBytes(new Random(1), 125);
        byte[] wire = Wire.Raw(Wire.FirstByte(opcode), payload, masked: true);

        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, WebSocketReaderOptions.ServerDefault, seed: 1))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, name);
                Assert.Equal([Received.Of((WebSocketMessageType)opcode, payload)], feeder.Messages);
            }
        }
    }

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Pong)]
    [InlineData(WebSocketOpcode.Close)]
    public void Fragmented_control_frame_is_a_protocol_error(WebSocketOpcode opcode)
    {
        byte[] wire = Wire.Raw((byte)opcode, [], masked: true); // FIN = 0
        AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsAfter(1, wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    [Fact]
    public void Control_frames_do_not_count_toward_the_message_size_limit()
    {
        var options = new WebSocketReaderOptions { MaxMessageSize = 10 };
        byte[] payload = new byte[125];
        using var feeder = new FrameFeeder(options);

        feeder.Push(Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Binary, new byte[6], fin: false),
            Wire.Frame(Server, WebSocketOpcode.Ping, payload),
            Wire.Frame(Server, WebSocketOpcode.Continuation, new byte[4], fin: true)));

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
        Assert.Equal([Received.Of(WebSocketMessageType.Ping, payload), Received.Of(WebSocketMessageType.Binary, new byte[10])], feeder.Messages);
    }

    // ---- fragmentation order ----

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Continuation_without_a_message_in_progress_is_a_protocol_error(bool fin)
    {
        byte[] lone = Wire.Raw(fin ? (byte)0x80 : (byte)0x00, "x"u8, masked: true);
        AssertFailsEveryWay(lone, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        AssertFailsAfter(1, lone, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);

        // After a finished message there is nothing to continue either.
        byte[] afterFinished = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Text, "a", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "b", fin: true),
            lone);
        AssertFailsEveryWay(afterFinished, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError, messagesBefore: 1);

        byte[] afterSingle = Wire.Concat(Wire.Frame(Server, WebSocketOpcode.Binary, [1]), lone);
        AssertFailsEveryWay(afterSingle, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError, messagesBefore: 1);
    }

    [Theory]
    [InlineData(WebSocketOpcode.Text, WebSocketOpcode.Text)]
    [InlineData(WebSocketOpcode.Text, WebSocketOpcode.Binary)]
    [InlineData(WebSocketOpcode.Binary, WebSocketOpcode.Binary)]
    [InlineData(WebSocketOpcode.Binary, WebSocketOpcode.Text)]
    public void New_data_frame_inside_a_fragmented_message_is_a_protocol_error(WebSocketOpcode first, WebSocketOpcode intruder)
    {
        foreach (bool intruderFin in new[] { true, false })
        {
            byte[] wire = Wire.Concat(
                Wire.Frame(Server, first, "a", fin: false),
                Wire.Frame(Server, WebSocketOpcode.Ping, ""),
                Wire.Frame(Server, intruder, "b", fin: intruderFin));
            AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError, messagesBefore: 1);
        }
    }

    // ---- lengths and limits ----

    [Theory]
    [InlineData(WebSocketRole.Server)]
    [InlineData(WebSocketRole.Client)]
    public void Sixty_four_bit_length_with_the_most_significant_bit_set_is_a_protocol_error(WebSocketRole role)
    {
        bool masked = role == WebSocketRole.Server;
        byte[] header = Wire.Concat(
            [0x82, (byte)((masked ? 0x80 : 0) | 127), 0x80, 0, 0, 0, 0, 0, 0, 1],
            masked ? Wire.KeyBytes(Wire.DefaultKey) : []);
        var options = new WebSocketReaderOptions { Role = role, MaxMessageSize = int.MaxValue };

        AssertFailsEveryWay(header, options, CloseCode.ProtocolError);
    }

    [Theory]
    [InlineData(WebSocketOpcode.Text)]
    [InlineData(WebSocketOpcode.Binary)]
    public void Single_frame_over_the_limit_fails_with_1009_from_the_header_alone(WebSocketOpcode opcode)
    {
        var options = new WebSocketReaderOptions { MaxMessageSize = 1000 };
        byte[] tooBig = Wire.Frame(Server, opcode, new byte[1001]);
        int headerSize = 2 + 2 + 4;

        // Refused as soon as the 16-bit length is in, before the 4 mask-key bytes arrive.
        AssertFailsAfter(2 + 2, tooBig, options, CloseCode.MessageTooBig);
        AssertFailsEveryWay(tooBig, options, CloseCode.MessageTooBig);

        // One byte less is within the limit.
        using var feeder = new FrameFeeder(options);
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(Wire.Frame(Server, opcode, new byte[1000]).AsSpan(0, headerSize)));
    }

    [Fact]
    public void Message_size_is_counted_across_fragments()
    {
        var options = new WebSocketReaderOptions { MaxMessageSize = 100 };
        byte[] first = Wire.Frame(Server, WebSocketOpcode.Binary, new byte[60], fin: false);
        byte[] ping = Wire.Frame(Server, WebSocketOpcode.Ping, new byte[50]);
        byte[] fits = Wire.Frame(Server, WebSocketOpcode.Continuation, new byte[40], fin: true);
        byte[] overflows = Wire.Frame(Server, WebSocketOpcode.Continuation, new byte[41], fin: true);

        using (var ok = new FrameFeeder(options))
        {
            ok.Push(Wire.Concat(first, ping, fits));
            Assert.Equal(WebSocketReadStatus.NeedMoreData, ok.Status);
            Assert.Equal(2, ok.Messages.Count);
            Assert.Equal(100, ok.Messages[1].Payload.Length);
        }

        AssertFailsEveryWay(Wire.Concat(first, ping, overflows), options, CloseCode.MessageTooBig, messagesBefore: 1);

        // The failing continuation is refused from its header, before its payload arrives.
        using var feeder = new FrameFeeder(options);
        feeder.Push(Wire.Concat(first, ping));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(overflows.AsSpan(0, 6)));
        Assert.Equal(CloseCode.MessageTooBig, feeder.ErrorCode);

        // Many small fragments add up as well.
        byte[] many = Wire.Concat([
            Wire.Frame(Server, WebSocketOpcode.Text, new string('a', 30), fin: false),
            .. Enumerable.Range(0, 3).Select(_ => Wire.Frame(Server, WebSocketOpcode.Continuation, new string('b', 30), fin: false))]);
        AssertFailsEveryWay(many, options, CloseCode.MessageTooBig);
    }

    [Fact]
    public void A_two_to_the_fortieth_length_header_fails_with_1009_at_once()
    {
        byte[] header = Wire.Header(0x82, 1L << 40, masked: true);
        Assert.Equal(14, header.Length);

        using var feeder = new FrameFeeder();
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(header));
        Assert.Equal(CloseCode.MessageTooBig, feeder.ErrorCode);

        using var client = FrameFeeder.Client();
        Assert.Equal(WebSocketReadStatus.ProtocolError, client.Push(Wire.Header(0x81, 1L << 40, masked: false)));
        Assert.Equal(CloseCode.MessageTooBig, client.ErrorCode);
    }

    // ---- after a failure ----

    [Fact]
    public void Reader_stays_failed_after_a_protocol_error()
    {
        using var feeder = new FrameFeeder();
        feeder.Push(Wire.Concat(Wire.Frame(Server, WebSocketOpcode.Text, "ok"), Wire.Raw(0xC1, "x"u8, masked: true)));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Status);
        Assert.Equal([Received.Text("ok")], feeder.Messages);
        string reason = feeder.Reader.ErrorReason;
        Assert.False(string.IsNullOrEmpty(reason));

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, "fine")));
            Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push([]));
        }

        Assert.Single(feeder.Messages);
        Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
        Assert.Equal(reason, feeder.Reader.ErrorReason);

        // Also straight on the reader, with an empty buffer.
        var buffer = System.Buffers.ReadOnlySequence<byte>.Empty;
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Reader.Read(ref buffer, out WebSocketMessage message));
        Assert.Equal(default, message.Type);
    }

    [Fact]
    public void A_fresh_reader_reports_no_error()
    {
        using var reader = new WebSocketReader();
        Assert.Equal(0, reader.ErrorCloseCode);
        Assert.False(reader.IsMessageInProgress);
        var buffer = System.Buffers.ReadOnlySequence<byte>.Empty;
        Assert.Equal(WebSocketReadStatus.NeedMoreData, reader.Read(ref buffer, out _));
    }

    /// <summary>Fed whole, one byte at a time and in random chunks/segments, the stream must fail with <paramref name="code"/>.</summary>
    internal static void AssertFailsEveryWay(byte[] wire, WebSocketReaderOptions options, ushort code, int messagesBefore = 0, bool oneByte = true)
    {
        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, options, seed: wire.Length, includeOneByte: oneByte))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.ProtocolError, $"{name}: expected a protocol error, got {feeder.Status}");
                Assert.True(code == feeder.ErrorCode, $"{name}: expected close code {code}, got {feeder.ErrorCode} ({feeder.Reader.ErrorReason})");
                Assert.True(messagesBefore == feeder.Messages.Count, $"{name}: expected {messagesBefore} messages before the error, got {feeder.Messages.Count}");
                Assert.False(string.IsNullOrWhiteSpace(feeder.Reader.ErrorReason));
            }
        }
    }

    /// <summary>The error must be reported once the first <paramref name="prefix"/> bytes are in, and not earlier.</summary>
    internal static void AssertFailsAfter(int prefix, byte[] wire, WebSocketReaderOptions options, ushort code)
    {
        using var feeder = new FrameFeeder(options);
        for (int i = 0; i < prefix - 1; i++)
        {
            Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(wire.AsSpan(i, 1)));
        }

        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(wire.AsSpan(prefix - 1, 1)));
        Assert.Equal(code, feeder.ErrorCode);
    }
}
