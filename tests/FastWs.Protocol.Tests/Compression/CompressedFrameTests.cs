using System.Text;
using FastWs.Protocol.Compression;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Tests.Frames;

namespace FastWs.Protocol.Tests.Compression;

/// <summary>The reader with permessage-deflate negotiated: RSV1 rules (RFC 7692 section 6) and inflation limits.</summary>
public class CompressedFrameTests
{
    private const byte Rsv1 = 0x40;

    private static readonly WebSocketReaderOptions Options = new() { Role = WebSocketRole.Server, MaxMessageSize = 4096 };

    private static FrameFeeder Feeder(bool contextTakeover = false) =>
        new(Options, Deflate.Negotiated(contextTakeover ? "permessage-deflate" : "permessage-deflate; client_no_context_takeover", allowClientContextTakeover: contextTakeover));

    private static byte[] Compressed(byte[] payload, WebSocketOpcode opcode = WebSocketOpcode.Text, bool fin = true) =>
        Wire.Raw((byte)(Wire.FirstByte(opcode, fin) | Rsv1), payload, masked: true);

    [Fact]
    public void A_compressed_text_message_in_one_frame_is_inflated()
    {
        using FrameFeeder feeder = Feeder();
        feeder.Push(Compressed(Deflate.Once("{\"type\":\"ping\"}")));
        Assert.Equal([Received.Text("{\"type\":\"ping\"}")], feeder.Messages);
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
    }

    [Fact]
    public void A_fragmented_compressed_message_fed_byte_by_byte_is_inflated()
    {
        string text = string.Concat(Enumerable.Repeat("{\"price\":150.25},", 100));
        byte[] payload = Deflate.Once(text);
        int half = payload.Length / 2;
        byte[] wire = Wire.Concat(
            Compressed(payload[..half], fin: false),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Ping, "p"),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Continuation, payload[half..]));

        using FrameFeeder feeder = Feeder();
        feeder.PushOneByteAtATime(wire);

        Assert.Equal([Received.Of(WebSocketMessageType.Ping, "p"u8), Received.Text(text)], feeder.Messages);
    }

    [Fact]
    public void Compressed_and_plain_messages_mix_and_context_carries_over_with_takeover()
    {
        using var deflate = new Deflate();
        using FrameFeeder feeder = Feeder(contextTakeover: true);
        feeder.Push(Wire.Concat(
            Compressed(deflate.Message("{\"type\":\"subscribe\",\"channel\":\"price:SOL\"}")),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Text, "plain"),
            Compressed(deflate.Message("{\"type\":\"subscribe\",\"channel\":\"price:SOL\"}")),
            Compressed(deflate.Message(new byte[] { 1, 2, 3 }), WebSocketOpcode.Binary)));

        Assert.Equal(
            [Received.Text("{\"type\":\"subscribe\",\"channel\":\"price:SOL\"}"), Received.Text("plain"),
             Received.Text("{\"type\":\"subscribe\",\"channel\":\"price:SOL\"}"), Received.Of(WebSocketMessageType.Binary, [1, 2, 3])],
            feeder.Messages);
        Assert.True(feeder.Reader.HoldsInflaterState);
    }

    [Fact]
    public void Messages_say_whether_they_arrived_compressed()
    {
        using var reader = new WebSocketReader(Options, Deflate.Negotiated());
        var input = new System.Buffers.ReadOnlySequence<byte>(Wire.Concat(
            Compressed(Deflate.Once("a")),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Text, "b")));

        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref input, out WebSocketMessage first));
        Assert.True(first.WasCompressed);
        Assert.Equal("a"u8.ToArray(), first.Payload.ToArray());
        Assert.Equal(WebSocketReadStatus.Message, reader.Read(ref input, out WebSocketMessage second));
        Assert.False(second.WasCompressed);
    }

    [Fact]
    public void No_inflater_state_is_held_without_context_takeover()
    {
        using FrameFeeder feeder = Feeder();
        feeder.Push(Compressed(Deflate.Once("hello")));
        Assert.Equal([Received.Text("hello")], feeder.Messages);
        Assert.False(feeder.Reader.HoldsInflaterState);
    }

    [Fact]
    public void A_bomb_is_closed_with_1009()
    {
        byte[] bomb = Deflate.Once(new byte[1024 * 1024]);
        Assert.True(bomb.Length < Options.MaxMessageSize, "the compressed bomb itself is within the limit");
        using FrameFeeder feeder = Feeder();
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Compressed(bomb)));
        Assert.Equal(CloseCode.MessageTooBig, feeder.ErrorCode);
        Assert.Equal("Message inflates beyond the maximum size", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Corrupt_deflate_data_is_closed_with_1007()
    {
        using FrameFeeder feeder = Feeder();
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Compressed([0xFF, 0xFF, 0xFF, 0x01])));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
        Assert.Equal("Compressed message is not valid DEFLATE data", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Invalid_utf8_inside_a_compressed_text_message_is_closed_with_1007()
    {
        using FrameFeeder feeder = Feeder();
        feeder.Push(Compressed(Deflate.Once(new byte[] { (byte)'a', 0xC3, 0x28 })));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
        Assert.Equal("Text message is not valid UTF-8", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Invalid_utf8_in_the_compressed_bytes_does_not_matter_only_the_inflated_text_does()
    {
        byte[] payload = Deflate.Once("valid text");
        Assert.False(Utf8IsValid(payload), "the compressed bytes are not UTF-8 themselves");
        using FrameFeeder feeder = Feeder();
        feeder.PushOneByteAtATime(Wire.Concat(Compressed(payload[..3], fin: false), Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Continuation, payload[3..])));
        Assert.Equal([Received.Text("valid text")], feeder.Messages);
    }

    [Theory]
    [InlineData(WebSocketOpcode.Ping)]
    [InlineData(WebSocketOpcode.Pong)]
    [InlineData(WebSocketOpcode.Close)]
    public void Rsv1_on_a_control_frame_is_a_protocol_error(WebSocketOpcode opcode)
    {
        using FrameFeeder feeder = Feeder();
        feeder.Push(Wire.Raw((byte)(Wire.FirstByte(opcode) | Rsv1), [], masked: true));
        Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
        Assert.Equal("RSV1 set on a control frame", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Rsv1_on_a_continuation_frame_is_a_protocol_error()
    {
        byte[] payload = Deflate.Once("abcdef");
        using FrameFeeder feeder = Feeder();
        feeder.Push(Wire.Concat(
            Compressed(payload[..2], fin: false),
            Wire.Raw((byte)(Wire.FirstByte(WebSocketOpcode.Continuation) | Rsv1), payload[2..], masked: true)));
        Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
        Assert.Equal("RSV1 set on a continuation frame", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Rsv1_without_negotiation_is_a_protocol_error_that_says_so()
    {
        using var feeder = new FrameFeeder(Options);
        feeder.Push(Compressed(Deflate.Once("x")));
        Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
        Assert.Equal("RSV1 set but permessage-deflate was not negotiated", feeder.Reader.ErrorReason);
    }

    [Fact]
    public void Rsv2_and_rsv3_stay_errors_with_the_extension()
    {
        using FrameFeeder feeder = Feeder();
        feeder.Push(Wire.Raw(0x81 | 0x40 | 0x20, "x"u8, masked: true));
        Assert.Equal(CloseCode.ProtocolError, feeder.ErrorCode);
    }

    [Fact]
    public void The_compressed_size_is_still_limited_as_it_arrives()
    {
        using FrameFeeder feeder = Feeder();
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Header(0x81 | Rsv1, Options.MaxMessageSize + 1, masked: true)));
        Assert.Equal(CloseCode.MessageTooBig, feeder.ErrorCode);
    }

    private static bool Utf8IsValid(byte[] bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
