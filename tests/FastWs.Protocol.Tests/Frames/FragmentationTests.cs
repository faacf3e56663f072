using System.Text;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>Fragmented messages are assembled byte-identically; control frames in between are handed out at once, in order.</summary>
public class FragmentationTests
{
    private const WebSocketRole Server = WebSocketRole.Server;

    [Theory]
    [InlineData(WebSocketOpcode.Text, 2)]
    [InlineData(WebSocketOpcode.Text, 3)]
    [InlineData(WebSocketOpcode.Text, 17)]
    [InlineData(WebSocketOpcode.Binary, 2)]
    [InlineData(WebSocketOpcode.Binary, 5)]
    [InlineData(WebSocketOpcode.Binary, 40)]
    public void Fragments_are_assembled_into_one_message(WebSocketOpcode opcode, int fragments)
    {
        var rng = new Random(fragments);
        byte[] payload = opcode == WebSocketOpcode.Text
            ? TextSamples.RandomUtf8OfLength(rng, 1000)
            : Wire.RandomBytes(rng, 1000);
        byte[][] pieces = Wire.Cut(payload, Wire.RandomCuts(rng, payload.Length, fragments - 1, allowEmpty: true));
        Assert.Equal(fragments, pieces.Length);
        byte[] wire = Wire.Concat([.. pieces.Select((piece, i) =>
            Wire.Frame(Server, i == 0 ? opcode : WebSocketOpcode.Continuation, piece, fin: i == pieces.Length - 1, key: (uint)rng.Next()))]);

        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, WebSocketReaderOptions.ServerDefault, fragments))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"{name}: {feeder.ErrorCode}");
                Assert.Equal([Received.Of((WebSocketMessageType)opcode, payload)], feeder.Messages);
            }
        }
    }

    [Theory]
    [InlineData(WebSocketOpcode.Text)]
    [InlineData(WebSocketOpcode.Binary)]
    public void Empty_fragments_anywhere_are_fine(WebSocketOpcode opcode)
    {
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, opcode, "", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "ab", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "c", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "", fin: true),
            // A message made of empty fragments only is an empty message.
            Wire.Frame(Server, opcode, "", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "", fin: true));

        using var feeder = FrameFeeder.Server();
        feeder.Push(wire);

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
        Assert.Equal(
            [Received.Of((WebSocketMessageType)opcode, "abc"u8), Received.Of((WebSocketMessageType)opcode, [])],
            feeder.Messages);
    }

    [Fact]
    public void Control_frames_between_fragments_are_handed_out_immediately_and_in_order()
    {
        using var feeder = FrameFeeder.Server();

        feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, "Hel", fin: false));
        Assert.Empty(feeder.Messages);
        Assert.True(feeder.Reader.IsMessageInProgress);

        feeder.Push(Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Ping, "p1", key: 1),
            Wire.Frame(Server, WebSocketOpcode.Pong, "", key: 2)));
        Assert.Equal([Received.Of(WebSocketMessageType.Ping, "p1"u8), Received.Of(WebSocketMessageType.Pong, [])], feeder.Messages);
        Assert.True(feeder.Reader.IsMessageInProgress);

        feeder.Push(Wire.Frame(Server, WebSocketOpcode.Continuation, "lo ", fin: false, key: 3));
        feeder.Push(Wire.Frame(Server, WebSocketOpcode.Ping, "p2", key: 4));
        Assert.Equal(3, feeder.Messages.Count);
        Assert.Equal(Received.Of(WebSocketMessageType.Ping, "p2"u8), feeder.Messages[2]);

        feeder.Push(Wire.Frame(Server, WebSocketOpcode.Continuation, "wörld", fin: true, key: 5));
        Assert.Equal(Received.Text("Hello wörld"), feeder.Messages[3]);
        Assert.False(feeder.Reader.IsMessageInProgress);
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
    }

    [Fact]
    public void A_control_frame_split_across_reads_between_fragments_does_not_disturb_the_message()
    {
        // The ping's payload is copied through the same code path as data; it must not land in the message.
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Binary, [1, 2, 3], fin: false, key: 0x11111111),
            Wire.Frame(Server, WebSocketOpcode.Ping, [0xAA, 0xBB, 0xCC, 0xDD, 0xEE], key: 0x22222222),
            Wire.Frame(Server, WebSocketOpcode.Continuation, [4, 5], fin: false, key: 0x33333333),
            Wire.Frame(Server, WebSocketOpcode.Close, Wire.ClosePayload(1001, "bye"u8), key: 0x44444444),
            Wire.Frame(Server, WebSocketOpcode.Continuation, [6], fin: true, key: 0x55555555));
        Received[] expected =
        [
            Received.Of(WebSocketMessageType.Ping, [0xAA, 0xBB, 0xCC, 0xDD, 0xEE]),
            Received.Of(WebSocketMessageType.Close, Wire.ClosePayload(1001, "bye"u8)),
            Received.Of(WebSocketMessageType.Binary, [1, 2, 3, 4, 5, 6]),
        ];

        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, WebSocketReaderOptions.ServerDefault, seed: 42))
        {
            using (feeder)
            {
                Assert.True(expected.SequenceEqual(feeder.Messages), $"{name}: [{string.Join(", ", feeder.Messages)}]");
            }
        }
    }

    [Fact]
    public void Every_fragment_may_use_its_own_mask_key()
    {
        var rng = new Random(5);
        string text = TextSamples.RandomText(rng, 200);
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        byte[][] pieces = Wire.Cut(utf8, Wire.RandomCuts(rng, utf8.Length, 9));
        using var feeder = FrameFeeder.Server();

        for (int i = 0; i < pieces.Length; i++)
        {
            feeder.Push(Wire.WriterMasked(
                i == 0 ? WebSocketOpcode.Text : WebSocketOpcode.Continuation,
                pieces[i],
                (uint)rng.Next(),
                fin: i == pieces.Length - 1));
        }

        Assert.Equal([Received.Text(text)], feeder.Messages);
    }

    [Fact]
    public void Messages_after_a_fragmented_message_are_not_polluted_by_it()
    {
        byte[] wire = Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Binary, Enumerable.Repeat((byte)0xEE, 3000).ToArray(), fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, [1], fin: true),
            Wire.Frame(Server, WebSocketOpcode.Text, "x", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "y", fin: true),
            Wire.Frame(Server, WebSocketOpcode.Binary, [], fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, [], fin: true));

        using var feeder = FrameFeeder.Server();
        feeder.PushInChunks(wire, [1, 1000, 3004, 3010]);

        Assert.Equal(3, feeder.Messages.Count);
        Assert.Equal(3001, feeder.Messages[0].Payload.Length);
        Assert.Equal(Received.Text("xy"), feeder.Messages[1]);
        Assert.Equal(Received.Of(WebSocketMessageType.Binary, []), feeder.Messages[2]);
    }

    [Fact]
    public void A_message_that_outgrows_its_first_buffer_keeps_every_byte()
    {
        // Only the first fragment's size is known when the message starts, so later fragments make the pooled
        // buffer grow; what was assembled so far must move along.
        var rng = new Random(99);
        int[] sizes = [10, 1500, 1, 9000, 0, 60_000, 3];
        byte[][] pieces = [.. sizes.Select(size => Wire.RandomBytes(rng, size))];
        byte[] payload = Wire.Concat(pieces);
        byte[] wire = Wire.Concat([.. pieces.Select((piece, i) =>
            Wire.Frame(Server, i == 0 ? WebSocketOpcode.Binary : WebSocketOpcode.Continuation, piece, fin: i == pieces.Length - 1, key: (uint)rng.Next()))]);
        var options = new WebSocketReaderOptions { MaxMessageSize = payload.Length };

        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(wire, options, seed: 99, includeOneByte: false))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"{name}: {feeder.ErrorCode}");
                Received message = Assert.Single(feeder.Messages);
                Assert.True(payload.AsSpan().SequenceEqual(message.Payload), name);
            }
        }
    }

    [Fact]
    public void Client_role_assembles_unmasked_fragments()
    {
        byte[] wire = Wire.Concat(
            Wire.WriterUnmasked(WebSocketOpcode.Text, "a"u8, fin: false),
            Wire.WriterUnmasked(WebSocketOpcode.Pong, "z"u8),
            Wire.WriterUnmasked(WebSocketOpcode.Continuation, "€"u8, fin: true));

        using var feeder = FrameFeeder.Client();
        feeder.PushOneByteAtATime(wire);

        Assert.Equal([Received.Of(WebSocketMessageType.Pong, "z"u8), Received.Text("a€")], feeder.Messages);
    }
}
