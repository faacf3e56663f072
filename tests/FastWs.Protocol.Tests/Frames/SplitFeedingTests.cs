using System.Text;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>
/// However the bytes of a stream of frames are split into reads and segments, the reader must hand out the same
/// messages in the same order. Streams are random (seeded) mixes of single frames, fragmented messages with
/// control frames in between, and control frames, written back to back.
/// </summary>
public class SplitFeedingTests
{
    private const int Cases = 500;

    [Theory]
    [InlineData(WebSocketRole.Server)]
    [InlineData(WebSocketRole.Client)]
    public void Random_streams_read_identically_however_they_are_split(WebSocketRole role)
    {
        var options = new WebSocketReaderOptions { Role = role };
        for (int seed = 0; seed < Cases; seed++)
        {
            var rng = new Random(seed * 7919 + (int)role);
            Scenario scenario = Scenario.Generate(rng, role);

            foreach ((string name, FrameFeeder feeder) in Feed.AllWays(scenario.Bytes, options, seed))
            {
                using (feeder)
                {
                    Assert.True(
                        feeder.Status == WebSocketReadStatus.NeedMoreData,
                        $"seed {seed}, {name}: {feeder.Status} {feeder.ErrorCode} {feeder.Reader.ErrorReason}");
                    Assert.True(
                        scenario.Expected.SequenceEqual(feeder.Messages),
                        $"seed {seed}, {name}:\nexpected [{string.Join(", ", scenario.Expected)}]\nactual   [{string.Join(", ", feeder.Messages)}]");
                    Assert.Equal(0, feeder.PendingBytes);
                    Assert.False(feeder.Reader.IsMessageInProgress);
                }
            }
        }
    }

    [Fact]
    public void Partial_header_is_left_unconsumed_and_completed_by_the_next_read()
    {
        byte[] payload = Wire.RandomBytes(new Random(3), 300);
        byte[] frame = Wire.WriterMasked(WebSocketOpcode.Binary, payload, 0xDEADBEEF); // 2 + 2 + 4 header bytes

        for (int headerPart = 1; headerPart < 8; headerPart++)
        {
            using var feeder = FrameFeeder.Server();

            Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(frame.AsSpan(0, headerPart)));
            Assert.Equal(headerPart, feeder.PendingBytes);
            Assert.Empty(feeder.Messages);

            Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(frame.AsSpan(headerPart, 8 - headerPart + 10)));
            Assert.Equal(0, feeder.PendingBytes); // header complete, 10 payload bytes consumed as they came
            Assert.Empty(feeder.Messages);

            feeder.Push(frame.AsSpan(18));
            Assert.Equal([Received.Of(WebSocketMessageType.Binary, payload)], feeder.Messages);
        }
    }

    [Fact]
    public void Back_to_back_frames_in_one_buffer_come_out_one_per_call_in_order()
    {
        byte[] wire = Wire.Concat(
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Text, "one"),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Ping, "p"),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Binary, [9, 8, 7]),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Text, ""),
            Wire.Frame(WebSocketRole.Server, WebSocketOpcode.Pong, ""));
        using var reader = new WebSocketReader();
        var buffer = new System.Buffers.ReadOnlySequence<byte>(wire);
        var seen = new List<Received>();

        while (reader.Read(ref buffer, out WebSocketMessage message) == WebSocketReadStatus.Message)
        {
            seen.Add(Received.Of(message.Type, message.Payload.Span));
        }

        Assert.Equal(
            [
                Received.Text("one"),
                Received.Of(WebSocketMessageType.Ping, "p"u8),
                Received.Of(WebSocketMessageType.Binary, [9, 8, 7]),
                Received.Text(""),
                Received.Of(WebSocketMessageType.Pong, []),
            ],
            seen);
        Assert.True(buffer.IsEmpty);
    }

    /// <summary>A random stream of frames and the messages a correct reader hands out for it.</summary>
    private sealed class Scenario
    {
        private readonly List<byte[]> _frames = [];
        private readonly Random _rng;
        private readonly WebSocketRole _role;

        private Scenario(Random rng, WebSocketRole role)
        {
            _rng = rng;
            _role = role;
        }

        public List<Received> Expected { get; } = [];

        public byte[] Bytes { get; private set; } = [];

        public static Scenario Generate(Random rng, WebSocketRole role)
        {
            var scenario = new Scenario(rng, role);
            int items = rng.Next(1, 8);
            for (int i = 0; i < items; i++)
            {
                switch (rng.Next(6))
                {
                    case 0:
                        scenario.Single(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(TextSamples.RandomText(rng, rng.Next(0, 60))));
                        break;
                    case 1:
                        scenario.Single(WebSocketOpcode.Binary, Wire.RandomBytes(rng, rng.Next(20) == 0 ? rng.Next(126, 3000) : rng.Next(0, 200)));
                        break;
                    case 2:
                        scenario.Fragmented(WebSocketOpcode.Text, Encoding.UTF8.GetBytes(TextSamples.RandomText(rng, rng.Next(0, 80))));
                        break;
                    case 3:
                        scenario.Fragmented(WebSocketOpcode.Binary, Wire.RandomBytes(rng, rng.Next(0, 400)));
                        break;
                    default:
                        scenario.Control();
                        break;
                }
            }

            if (rng.Next(4) == 0)
            {
                byte[] reason = Encoding.UTF8.GetBytes(TextSamples.RandomText(rng, rng.Next(0, 20)));
                scenario.Add(WebSocketOpcode.Close, Wire.ClosePayload(1000, reason), fin: true, expect: true);
            }

            scenario.Bytes = Wire.Concat([.. scenario._frames]);
            return scenario;
        }

        private void Single(WebSocketOpcode opcode, byte[] payload) => Add(opcode, payload, fin: true, expect: true);

        private void Fragmented(WebSocketOpcode opcode, byte[] payload)
        {
            int[] cuts = Wire.RandomCuts(_rng, payload.Length, _rng.Next(1, 6), allowEmpty: true);
            byte[][] pieces = Wire.Cut(payload, cuts);
            if (_rng.Next(3) == 0)
            {
                pieces = [[], .. pieces, []]; // empty first and last fragments
            }

            if (pieces.Length == 1)
            {
                pieces = [pieces[0], []];
            }

            for (int i = 0; i < pieces.Length; i++)
            {
                bool last = i == pieces.Length - 1;
                AddFrame(i == 0 ? opcode : WebSocketOpcode.Continuation, pieces[i], fin: last);
                if (!last)
                {
                    while (_rng.Next(3) == 0)
                    {
                        Control();
                    }
                }
            }

            Expected.Add(Received.Of((WebSocketMessageType)opcode, payload));
        }

        private void Control() =>
            Add(_rng.Next(2) == 0 ? WebSocketOpcode.Ping : WebSocketOpcode.Pong, Wire.RandomBytes(_rng, _rng.Next(0, 126)), fin: true, expect: true);

        private void Add(WebSocketOpcode opcode, byte[] payload, bool fin, bool expect)
        {
            AddFrame(opcode, payload, fin);
            if (expect)
            {
                Expected.Add(Received.Of((WebSocketMessageType)opcode, payload));
            }
        }

        private void AddFrame(WebSocketOpcode opcode, byte[] payload, bool fin)
        {
            // Alternate the two encoders so both are exercised against the reader.
            uint key = (uint)_rng.Next() ^ ((uint)_rng.Next() << 1);
            byte[] frame = _role == WebSocketRole.Server
                ? (_rng.Next(2) == 0 ? Wire.WriterMasked(opcode, payload, key, fin) : Wire.Frame(_role, opcode, payload, fin, key))
                : (_rng.Next(2) == 0 ? Wire.WriterUnmasked(opcode, payload, fin) : Wire.Frame(_role, opcode, payload, fin));
            _frames.Add(frame);
        }
    }
}
