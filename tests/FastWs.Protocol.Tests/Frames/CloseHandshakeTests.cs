using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>The close handshake state (RFC 6455 section 7): who closed first and what must be answered.</summary>
public class CloseHandshakeTests
{
    [Theory]
    [InlineData(CloseCode.NormalClosure)]
    [InlineData(CloseCode.GoingAway)]
    [InlineData(CloseCode.MessageTooBig)]
    [InlineData((ushort)4000)]
    public void Remote_first_close_is_echoed_with_its_code_and_the_transport_closed(ushort code)
    {
        var handshake = new CloseHandshake();

        CloseResponse response = handshake.OnRemoteClose(code, "bye");

        Assert.Equal(new CloseResponse(SendClose: true, Code: code, CloseTransport: true), response);
        Assert.Equal(CloseInitiator.Remote, handshake.Initiator);
        Assert.True(handshake.CloseReceived);
        Assert.True(handshake.CloseSent);
        Assert.True(handshake.IsComplete);
        Assert.False(handshake.CanSendData);
        Assert.Equal(code, handshake.ReceivedCode);
        Assert.Equal("bye", handshake.ReceivedReason);
        Assert.Equal(code, handshake.SentCode);
    }

    [Fact]
    public void Remote_close_without_a_code_is_answered_with_1000()
    {
        var handshake = new CloseHandshake();

        CloseResponse response = handshake.OnRemoteClose(CloseCode.NoStatusReceived, "");

        Assert.True(response.SendClose);
        Assert.Equal(CloseCode.NormalClosure, response.Code);
        Assert.True(response.CloseTransport);
        Assert.Equal(CloseCode.NoStatusReceived, handshake.ReceivedCode);
        Assert.Equal(CloseCode.NormalClosure, handshake.SentCode);
    }

    [Fact]
    public void After_answering_a_remote_close_no_second_close_may_be_sent()
    {
        var handshake = new CloseHandshake();
        handshake.OnRemoteClose(CloseCode.GoingAway, "");

        Assert.False(handshake.TryStartLocalClose(CloseCode.InternalError, "late"));
        Assert.Equal(CloseCode.GoingAway, handshake.SentCode);
        Assert.Equal(CloseInitiator.Remote, handshake.Initiator);
    }

    [Fact]
    public void Local_first_close_then_remote_close_completes_without_a_reply()
    {
        var handshake = new CloseHandshake();
        Assert.True(handshake.CanSendData);

        Assert.True(handshake.TryStartLocalClose(CloseCode.GoingAway, "shutting down"));
        Assert.Equal(CloseInitiator.Local, handshake.Initiator);
        Assert.True(handshake.CloseSent);
        Assert.False(handshake.CanSendData);
        Assert.False(handshake.IsComplete);
        Assert.Equal(CloseCode.GoingAway, handshake.SentCode);
        Assert.Equal("shutting down", handshake.SentReason);

        CloseResponse response = handshake.OnRemoteClose(CloseCode.NormalClosure, "ok");

        Assert.False(response.SendClose);
        Assert.True(response.CloseTransport);
        Assert.True(handshake.IsComplete);
        Assert.Equal(CloseInitiator.Local, handshake.Initiator);
        Assert.Equal(CloseCode.NormalClosure, handshake.ReceivedCode);
        Assert.Equal("ok", handshake.ReceivedReason);
        Assert.Equal(CloseCode.GoingAway, handshake.SentCode);
    }

    [Fact]
    public void Second_local_close_is_refused()
    {
        var handshake = new CloseHandshake();

        Assert.True(handshake.TryStartLocalClose(CloseCode.PolicyViolation, "first"));
        Assert.False(handshake.TryStartLocalClose(CloseCode.InternalError, "second"));

        Assert.Equal(CloseCode.PolicyViolation, handshake.SentCode);
        Assert.Equal("first", handshake.SentReason);
    }

    [Fact]
    public void A_second_remote_close_is_not_answered()
    {
        var handshake = new CloseHandshake();
        handshake.OnRemoteClose(CloseCode.NormalClosure, "");

        CloseResponse again = handshake.OnRemoteClose(CloseCode.GoingAway, "again");

        Assert.False(again.SendClose);
        Assert.True(again.CloseTransport);
        Assert.Equal(CloseCode.NormalClosure, handshake.ReceivedCode);
    }

    [Fact]
    public void Fresh_handshake_is_open()
    {
        var handshake = new CloseHandshake();
        Assert.Equal(CloseInitiator.None, handshake.Initiator);
        Assert.False(handshake.CloseSent);
        Assert.False(handshake.CloseReceived);
        Assert.False(handshake.IsComplete);
        Assert.True(handshake.CanSendData);
    }
}
