using System.Text;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Tests;

/// <summary>
/// How the tool classifies server messages: FastWs's <c>connected</c> greeting is neither data nor an error; <c>gap</c>
/// notices have a kind of their own; inline data (no <c>"type":"message"</c>) is left to a stream sink.
/// </summary>
public sealed class ProtocolTextTests
{
    [Theory]
    [InlineData("""{"type":"connected","connectionId":"17-3","protocol":"fastws.v1"}""", nameof(ServerMessageKind.Connected))]
    [InlineData("""{"type": "connected","connectionId":"1-0","user":"0xabc"}""", nameof(ServerMessageKind.Connected))]
    [InlineData("""{"type":"message","channel":"bench:0","seq":1,"data":{"t":1}}""", nameof(ServerMessageKind.Data))]
    [InlineData("""{"type":"subscribed","channels":["bench:0"]}""", nameof(ServerMessageKind.Subscribed))]
    [InlineData("""{"type":"authenticated","user":"0xabc"}""", nameof(ServerMessageKind.Authenticated))]
    [InlineData("""{"type":"error","code":"bad_request","message":"x"}""", nameof(ServerMessageKind.Error))]
    [InlineData("""{"type":"pong"}""", nameof(ServerMessageKind.Other))]
    [InlineData("""{"type":"gap","channel":"trades:1","from":5,"to":9}""", nameof(ServerMessageKind.Gap))]
    [InlineData("""{"t":123,"p":"xx","channel":"trades:1","seq":7}""", nameof(ServerMessageKind.Other))]
    [InlineData("""{"type":"trade","slab":"SOL","channel":"trades:SOL","seq":7}""", nameof(ServerMessageKind.Other))]
    public void Classifies_server_messages(string json, string expected) =>
        Assert.Equal(expected, ProtocolText.Classify(Encoding.UTF8.GetBytes(json)).ToString());
}

/// <summary>The scanning helpers the reconnect scenario reads inline and envelope messages with.</summary>
public sealed class StreamTextTests
{
    [Theory]
    [InlineData("""{"t":123,"p":"xx","channel":"trades:1","seq":7}""", "trades:1", 7, false)]
    [InlineData("""{"type":"message","channel":"bench:2","seq":41,"data":{"t":1}}""", "bench:2", 41, false)]
    [InlineData("""{"type":"funding","rate":0.1,"channel":"funding:SOL","seq":3,"snapshot":true}""", "funding:SOL", 3, true)]
    public void Reads_channel_seq_and_snapshot_without_parsing(string json, string channel, long seq, bool snapshot)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        Assert.True(ProtocolText.TryReadStringBytes(bytes, "\"channel\""u8, out ReadOnlySpan<byte> name));
        Assert.Equal(channel, Encoding.UTF8.GetString(name));
        Assert.True(ProtocolText.TryReadSeq(bytes, out long actual));
        Assert.Equal(seq, actual);
        Assert.Equal(snapshot, ProtocolText.IsTrue(bytes, "\"snapshot\""u8));
    }

    [Fact]
    public void Parses_a_subscribed_ack_with_positions_and_recovery_results()
    {
        SubscribedAck ack = Assert.IsType<SubscribedAck>(SubscribedAck.Parse(Encoding.UTF8.GetBytes(
            """{"type":"subscribed","channels":["trades:1","trades:2"],"positions":{"trades:1":{"epoch":"a1","seq":41},"trades:2":{"epoch":"b2","seq":0}},"recovered":["trades:1"],"notRecovered":["trades:2"],"id":3}""")));

        Assert.Equal(3, ack.Id);
        Assert.Equal(["trades:1", "trades:2"], ack.Channels);
        Assert.Equal(new StreamPosition("a1", 41), ack.Positions["trades:1"]);
        Assert.Equal(new StreamPosition("b2", 0), ack.Positions["trades:2"]);
        Assert.Equal(["trades:1"], ack.Recovered!);
        Assert.Equal(["trades:2"], ack.NotRecovered!);
    }

    [Fact]
    public void An_ack_without_since_has_no_recovery_lists_and_a_broken_one_is_refused()
    {
        SubscribedAck ack = Assert.IsType<SubscribedAck>(SubscribedAck.Parse("""{"type":"subscribed","channels":["bench:1"],"positions":{"bench:1":{"epoch":"e","seq":5}}}"""u8));
        Assert.Null(ack.Recovered);
        Assert.Null(ack.NotRecovered);
        Assert.Null(ack.Id);

        Assert.Null(SubscribedAck.Parse("""{"type":"subscribed","positions":{"bench:1":{"seq":5}}}"""u8));
        Assert.Null(SubscribedAck.Parse("""{"type":"subscribed","positions":"""u8));
    }

    [Fact]
    public void Writes_a_subscribe_with_since_only_for_channels_with_a_position()
    {
        byte[] first = StreamProtocol.Subscribe(["trades:1", "trades:2"], [], 1);
        Assert.Equal("""{"type":"subscribe","channels":["trades:1","trades:2"],"id":1}""", Encoding.UTF8.GetString(first));

        byte[] again = StreamProtocol.Subscribe(["trades:1", "trades:2"], [new("trades:1", new StreamPosition("a1", 41))], 2);
        Assert.Equal("""{"type":"subscribe","channels":["trades:1","trades:2"],"since":{"trades:1":{"epoch":"a1","seq":41}},"id":2}""", Encoding.UTF8.GetString(again));
    }
}
