using System.Text;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>Close frame payloads (RFC 6455 5.5.1, 7.4): empty, or a valid code plus a UTF-8 reason.</summary>
public class CloseFrameTests
{
    private const WebSocketRole Server = WebSocketRole.Server;

    public static TheoryData<ushort> ValidCodes => [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];

    public static TheoryData<ushort> InvalidCodes => [0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

    [Fact]
    public void Empty_close_frame_is_accepted_and_reports_1005()
    {
        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(Wire.Frame(Server, WebSocketOpcode.Close, []), WebSocketReaderOptions.ServerDefault, seed: 1))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, name);
                Assert.Equal([Received.Of(WebSocketMessageType.Close, [])], feeder.Messages);
            }
        }

        WebSocketMessage message = ReadOne(Wire.Frame(Server, WebSocketOpcode.Close, []));
        Assert.Equal(WebSocketMessageType.Close, message.Type);
        Assert.Equal(CloseCode.NoStatusReceived, message.CloseStatus);
        Assert.True(message.CloseReason.IsEmpty);
        Assert.True(message.IsControl);
    }

    [Fact]
    public void One_byte_close_payload_is_a_protocol_error()
    {
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Close, [0x03]), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(WebSocketRole.Client, WebSocketOpcode.Close, [0x03]), WebSocketReaderOptions.ClientDefault, CloseCode.ProtocolError);
    }

    [Theory]
    [MemberData(nameof(ValidCodes))]
    public void Valid_close_codes_are_accepted(ushort code)
    {
        WebSocketMessage bare = ReadOne(Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(code, [])));
        Assert.Equal(code, bare.CloseStatus);
        Assert.True(bare.CloseReason.IsEmpty);

        using var feeder = FrameFeeder.Client();
        feeder.PushOneByteAtATime(Wire.Frame(WebSocketRole.Client, WebSocketOpcode.Close, Wire.ClosePayload(code, "bye"u8)));
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
        Assert.Equal([Received.Of(WebSocketMessageType.Close, Wire.ClosePayload(code, "bye"u8))], feeder.Messages);
        Assert.True(CloseCode.IsValidOnWire(code));
    }

    [Theory]
    [MemberData(nameof(InvalidCodes))]
    public void Invalid_close_codes_are_a_protocol_error(ushort code)
    {
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(code, [])), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(code, "why"u8)), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
        Assert.False(CloseCode.IsValidOnWire(code));
    }

    [Fact]
    public void Close_code_classes_cover_the_whole_range()
    {
        for (int code = 0; code <= ushort.MaxValue; code++)
        {
            bool expected = code is (>= 1000 and <= 1003) or (>= 1007 and <= 1011) or (>= 3000 and <= 4999);
            Assert.True(expected == CloseCode.IsValidOnWire((ushort)code), $"code {code}");
        }
    }

    [Theory]
    [InlineData("FF")]
    [InlineData("C080")]
    [InlineData("EDA080")]
    [InlineData("6F6BE282")] // "ok" + truncated euro sign
    public void Non_utf8_close_reason_fails_with_1007(string reasonHex)
    {
        byte[] payload = Wire.ClosePayload(CloseCode.NormalClosure, Convert.FromHexString(reasonHex));
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Close, payload), WebSocketReaderOptions.ServerDefault, CloseCode.InvalidPayloadData);
    }

    [Fact]
    public void Close_code_is_checked_before_the_reason()
    {
        byte[] payload = Wire.ClosePayload(1004, [0xFF]);
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Close, payload), WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    [Theory]
    [InlineData("bye")]
    [InlineData("")]
    [InlineData("закрыто 😀 €")]
    public void Valid_reason_is_returned_in_CloseReason(string reason)
    {
        byte[] reasonBytes = Encoding.UTF8.GetBytes(reason);
        WebSocketMessage message = ReadOne(Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(4321, reasonBytes)));

        Assert.Equal(4321, message.CloseStatus);
        Assert.Equal(reasonBytes, message.CloseReason.ToArray());
        Assert.Equal(reason, Encoding.UTF8.GetString(message.CloseReason.Span));
    }

    [Fact]
    public void Longest_close_payload_is_accepted()
    {
        byte[] reason = Encoding.UTF8.GetBytes(new string('r', 123));
        WebSocketMessage message = ReadOne(Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(1000, reason)));
        Assert.Equal(1000, message.CloseStatus);
        Assert.Equal(123, message.CloseReason.Length);
    }

    [Fact]
    public void Close_frame_inside_a_fragmented_message_is_validated_too()
    {
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Text, "part", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(1006, [])));
        ProtocolViolationTests.AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.ProtocolError);
    }

    [Fact]
    public void Non_close_messages_report_no_close_status()
    {
        WebSocketMessage message = ReadOne(Wire.Frame(Server, WebSocketOpcode.Binary, [0x03, 0xE8, 0x41]));
        Assert.Equal(CloseCode.NoStatusReceived, message.CloseStatus);
        Assert.True(message.CloseReason.IsEmpty);
        Assert.False(message.IsControl);
    }

    /// <summary>Reads exactly one message and returns it with its payload copied out of the input.</summary>
    private static WebSocketMessage ReadOne(byte[] wire)
    {
        using var feeder = FrameFeeder.Server();
        feeder.Push(wire);
        Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"{feeder.ErrorCode} {feeder.Reader.ErrorReason}");
        Received received = Assert.Single(feeder.Messages);
        return new WebSocketMessage(received.Type, received.Payload);
    }
}
