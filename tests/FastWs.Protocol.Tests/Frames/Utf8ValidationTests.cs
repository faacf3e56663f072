using System.Text;
using System.Text.Unicode;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>Text messages must be valid UTF-8 (close 1007), checked as bytes arrive so a bad prefix fails at once.</summary>
public class Utf8ValidationTests
{
    private const WebSocketRole Server = WebSocketRole.Server;

    public static TheoryData<string> InvalidTexts =>
    [
        "C080",             // overlong NUL
        "C1BF",             // overlong
        "E08080",           // overlong 3-byte
        "E09FBF",           // overlong 3-byte, top edge
        "F0808080",         // overlong 4-byte
        "F08FBFBF",         // overlong 4-byte, top edge
        "EDA080",           // surrogate U+D800
        "EDBFBF",           // surrogate U+DFFF
        "F4908080",         // U+110000
        "F5808080",         // lead byte above F4
        "F8888080",
        "FF",
        "FE",
        "80",               // lone continuation
        "BF",
        "41806162",         // lone continuation inside text
        "C3",               // truncated 2-byte at message end
        "E282",             // truncated euro sign
        "F09F98",           // truncated emoji
        "616263F0",         // truncated after ASCII
        "E2A841",           // ASCII where a continuation belongs
        "C3A9C3",
        "CEBAE1BDB9CF83CEBCCEB5EDA080656469746564", // "κόσμε" + surrogate + "edited" (Autobahn 6.3.1)
    ];

    public static TheoryData<string> ValidEdgeSequences =>
    [
        "C280",       // U+0080
        "DFBF",       // U+07FF
        "E0A080",     // U+0800
        "ED9FBF",     // U+D7FF
        "EE8080",     // U+E000
        "EFBFBF",     // U+FFFF
        "F0908080",   // U+10000
        "F48FBFBF",   // U+10FFFF
        "C3A9",       // é
        "E282AC",     // €
        "F09F9880",   // 😀
    ];

    // Prefixes that no continuation can make valid: the fragment carrying them must fail before the message ends.
    public static TheoryData<string> ImpossiblePrefixes =>
    [
        "E080", "E09F", "EDA0", "EDBF", "F080", "F08F", "F490", "F4BF", "C0", "C1", "F5", "FF", "80",
        "61E2A841", "E28241",
    ];

    // ---- through the reader ----

    [Theory]
    [MemberData(nameof(InvalidTexts))]
    public void Invalid_text_in_a_single_frame_fails_with_1007(string hex)
    {
        byte[] payload = Convert.FromHexString(hex);
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(Server, WebSocketOpcode.Text, payload), WebSocketReaderOptions.ServerDefault, CloseCode.InvalidPayloadData);
        ProtocolViolationTests.AssertFailsEveryWay(Wire.Frame(WebSocketRole.Client, WebSocketOpcode.Text, payload), WebSocketReaderOptions.ClientDefault, CloseCode.InvalidPayloadData);
    }

    [Theory]
    [MemberData(nameof(InvalidTexts))]
    public void Invalid_text_fails_with_1007_when_fragmented_at_every_point(string hex)
    {
        byte[] payload = Convert.FromHexString(hex);
        for (int cut = 0; cut <= payload.Length; cut++)
        {
            byte[] wire = Wire.Concat(
                Wire.Frame(Server, WebSocketOpcode.Text, payload[..cut], fin: false),
                Wire.Frame(Server, WebSocketOpcode.Continuation, payload[cut..], fin: true));
            ProtocolViolationTests.AssertFailsEveryWay(wire, WebSocketReaderOptions.ServerDefault, CloseCode.InvalidPayloadData);
        }
    }

    [Theory]
    [MemberData(nameof(InvalidTexts))]
    public void The_same_bytes_as_binary_are_accepted(string hex)
    {
        byte[] payload = Convert.FromHexString(hex);
        using var feeder = FrameFeeder.Server();
        feeder.PushOneByteAtATime(Wire.Frame(Server, WebSocketOpcode.Binary, payload));
        Assert.Equal([Received.Of(WebSocketMessageType.Binary, payload)], feeder.Messages);
    }

    [Theory]
    [MemberData(nameof(ValidEdgeSequences))]
    public void Valid_sequences_cut_across_fragments_at_every_point_are_accepted(string hex)
    {
        byte[] text = Wire.Concat("a"u8.ToArray(), Convert.FromHexString(hex), "z"u8.ToArray(), Convert.FromHexString(hex));
        for (int first = 0; first <= text.Length; first++)
        {
            for (int second = first; second <= text.Length; second++)
            {
                byte[] wire = Wire.Concat(
                    Wire.Frame(Server, WebSocketOpcode.Text, text[..first], fin: false, key: (uint)first),
                    Wire.Frame(Server, WebSocketOpcode.Ping, "!"),
                    Wire.Frame(Server, WebSocketOpcode.Continuation, text[first..second], fin: false, key: (uint)second),
                    Wire.Frame(Server, WebSocketOpcode.Continuation, text[second..], fin: true));

                using var feeder = FrameFeeder.Server();
                feeder.Push(wire);

                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"cuts {first},{second}: {feeder.ErrorCode} {feeder.Reader.ErrorReason}");
                Assert.Equal([Received.Of(WebSocketMessageType.Ping, "!"u8), Received.Of(WebSocketMessageType.Text, text)], feeder.Messages);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ValidEdgeSequences))]
    public void Valid_sequences_in_a_single_frame_split_across_reads_are_accepted(string hex)
    {
        byte[] text = Wire.Concat(Convert.FromHexString(hex), "-"u8.ToArray(), Convert.FromHexString(hex));
        foreach ((string name, FrameFeeder feeder) in Feed.AllWays(Wire.Frame(Server, WebSocketOpcode.Text, text), WebSocketReaderOptions.ServerDefault, seed: text.Length))
        {
            using (feeder)
            {
                Assert.True(feeder.Status == WebSocketReadStatus.NeedMoreData, $"{name}: {feeder.ErrorCode}");
                Assert.Equal([Received.Of(WebSocketMessageType.Text, text)], feeder.Messages);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ImpossiblePrefixes))]
    public void An_impossible_prefix_in_a_non_final_fragment_fails_on_that_fragment(string hex)
    {
        byte[] bad = Wire.Concat("ok "u8.ToArray(), Convert.FromHexString(hex));
        using var feeder = FrameFeeder.Server();

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, "fine ", fin: false)));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Continuation, bad, fin: false)));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);

        // And as the first fragment.
        using var first = FrameFeeder.Server();
        Assert.Equal(WebSocketReadStatus.ProtocolError, first.Push(Wire.Frame(Server, WebSocketOpcode.Text, bad, fin: false)));
        Assert.Equal(CloseCode.InvalidPayloadData, first.ErrorCode);
    }

    [Theory]
    [InlineData("E0", "80")]
    [InlineData("ED", "A0")]
    [InlineData("F0", "80")]
    [InlineData("F4", "90")]
    [InlineData("F09F", "41")]
    [InlineData("E2", "82C3")]
    public void A_sequence_broken_by_the_next_fragment_fails_on_that_fragment(string firstHex, string secondHex)
    {
        using var feeder = FrameFeeder.Server();

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, Convert.FromHexString(firstHex), fin: false)));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Continuation, Convert.FromHexString(secondHex), fin: false)));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
    }

    [Theory]
    [InlineData("EDA0")]
    [InlineData("E080")]
    [InlineData("F490")]
    [InlineData("C0")]
    public void An_impossible_prefix_in_a_single_frame_fails_before_the_rest_of_the_frame_arrives(string hex)
    {
        byte[] payload = Wire.Concat(new byte[100].Select(_ => (byte)'a').ToArray(), Convert.FromHexString(hex), new byte[500].Select(_ => (byte)'b').ToArray());
        byte[] wire = Wire.Frame(Server, WebSocketOpcode.Text, payload);
        int headerSize = 8;
        int badEnd = headerSize + 100 + (hex.Length / 2);
        using var feeder = FrameFeeder.Server();

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(wire.AsSpan(0, headerSize + 100)));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(wire.AsSpan(headerSize + 100, badEnd - headerSize - 100)));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
    }

    [Theory]
    [InlineData("E282")]
    [InlineData("C3")]
    [InlineData("F09F98")]
    public void A_sequence_left_open_at_the_end_of_the_message_fails_on_the_final_fragment(string hex)
    {
        using var feeder = FrameFeeder.Server();

        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, Wire.Concat("a"u8.ToArray(), Convert.FromHexString(hex)), fin: false)));
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Ping, "")));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Frame(Server, WebSocketOpcode.Continuation, "", fin: true)));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
        Assert.Equal([Received.Of(WebSocketMessageType.Ping, [])], feeder.Messages);
    }

    [Fact]
    public void Validation_state_does_not_leak_from_one_message_into_the_next()
    {
        // A text message that ends cleanly, then one starting with bytes that would only be valid as a continuation
        // of something: must fail. And a binary message ending mid-"sequence" must not affect the next text message.
        using var feeder = FrameFeeder.Server();
        feeder.Push(Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Binary, [0xE2, 0x82], fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, [], fin: true),
            Wire.Frame(Server, WebSocketOpcode.Text, "a", fin: false),
            Wire.Frame(Server, WebSocketOpcode.Continuation, "b", fin: true)));
        Assert.Equal(WebSocketReadStatus.NeedMoreData, feeder.Status);
        Assert.Equal(2, feeder.Messages.Count);

        feeder.Push(Wire.Frame(Server, WebSocketOpcode.Text, [0xE2], fin: false));
        Assert.Equal(WebSocketReadStatus.ProtocolError, feeder.Push(Wire.Concat(
            Wire.Frame(Server, WebSocketOpcode.Continuation, [0x82, 0xAC], fin: true),
            Wire.Frame(Server, WebSocketOpcode.Text, [0xAC], fin: false))));
        Assert.Equal(CloseCode.InvalidPayloadData, feeder.ErrorCode);
        Assert.Equal(Received.Text("€"), feeder.Messages[^1]);
    }

    // ---- Utf8StreamValidator on its own ----

    [Theory]
    [MemberData(nameof(ValidEdgeSequences))]
    public void Validator_accepts_a_valid_sequence_split_at_every_point(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        for (int cut = 0; cut <= bytes.Length; cut++)
        {
            var validator = default(Utf8StreamValidator);
            Assert.True(validator.Append(bytes.AsSpan(0, cut)));
            Assert.Equal(cut == 0 || cut == bytes.Length, validator.IsComplete);
            Assert.True(validator.Append(bytes.AsSpan(cut)));
            Assert.True(validator.IsComplete);
        }
    }

    [Fact]
    public void Validator_carries_a_sequence_over_several_one_byte_pieces()
    {
        var validator = default(Utf8StreamValidator);
        foreach (byte b in "😀€é"u8)
        {
            Assert.True(validator.Append([b]));
        }

        Assert.True(validator.IsComplete);
        Assert.True(validator.Append([]));
        Assert.True(validator.Append([0xF4]));
        Assert.False(validator.IsComplete);
        Assert.False(validator.Append([0x90])); // above U+10FFFF: fails on this byte
    }

    [Fact]
    public void Validator_reset_forgets_an_open_sequence()
    {
        var validator = default(Utf8StreamValidator);
        Assert.True(validator.Append([0xE2, 0x82]));
        Assert.False(validator.IsComplete);

        validator.Reset();

        Assert.True(validator.IsComplete);
        Assert.False(validator.Append([0xAC]));
    }

    [Fact]
    public void Validator_static_IsValid_matches_the_framework()
    {
        var rng = new Random(11);
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes = RandomCandidate(rng);
            Assert.Equal(Utf8.IsValid(bytes), Utf8StreamValidator.IsValid(bytes));
        }
    }

    [Fact]
    public void Validator_agrees_with_the_framework_on_random_bytes_split_at_random_points()
    {
        var rng = new Random(20240601);
        int valid = 0;
        int invalid = 0;
        for (int i = 0; i < 4000; i++)
        {
            byte[] bytes = RandomCandidate(rng);
            byte[][] pieces = Wire.Cut(bytes, Wire.RandomCuts(rng, bytes.Length, rng.Next(0, 6), allowEmpty: true));
            bool expected = Utf8.IsValid(bytes);

            var validator = default(Utf8StreamValidator);
            bool ok = true;
            foreach (byte[] piece in pieces)
            {
                ok = validator.Append(piece);
                if (!ok)
                {
                    break;
                }
            }

            bool actual = ok && validator.IsComplete;
            Assert.True(expected == actual, $"{Convert.ToHexString(bytes)} split as [{string.Join(" | ", pieces.Select(Convert.ToHexString))}]: framework says {expected}");
            _ = expected ? valid++ : invalid++;
        }

        // Both outcomes must be well represented, or the comparison proves little.
        Assert.True(valid > 1000, $"only {valid} valid samples");
        Assert.True(invalid > 1000, $"only {invalid} invalid samples");
    }

    [Fact]
    public void Validator_fails_exactly_when_the_bytes_so_far_can_no_longer_become_valid()
    {
        // Fail-fast, precisely: after each piece, Append returns false if and only if no continuation of the bytes
        // seen so far is valid UTF-8. (A prefix is completable iff appending some 0-3 continuation bytes makes it valid;
        // 80, 90 and A0 cover every allowed second-byte range of Unicode Table 3-7.)
        var rng = new Random(77);
        int failedEarly = 0;
        for (int i = 0; i < 3000; i++)
        {
            byte[] bytes = RandomCandidate(rng);
            byte[][] pieces = Wire.Cut(bytes, Wire.RandomCuts(rng, bytes.Length, rng.Next(1, 8), allowEmpty: true));
            var validator = default(Utf8StreamValidator);
            var seen = new List<byte>();
            for (int p = 0; p < pieces.Length; p++)
            {
                seen.AddRange(pieces[p]);
                bool completable = IsCompletable([.. seen]);
                bool appended = validator.Append(pieces[p]);
                Assert.True(completable == appended, $"after {Convert.ToHexString([.. seen])} (pieces [{string.Join(" | ", pieces.Select(Convert.ToHexString))}]): Append said {appended}");
                Assert.Equal(Utf8.IsValid([.. seen]), appended && validator.IsComplete);
                if (!appended)
                {
                    failedEarly += p < pieces.Length - 1 ? 1 : 0;
                    break;
                }
            }
        }

        Assert.True(failedEarly > 100, $"only {failedEarly} failures happened before the last piece");
    }

    private static bool IsCompletable(byte[] prefix)
    {
        ReadOnlySpan<byte> fillers = [0x80, 0x90, 0xA0];
        byte[] candidate = new byte[prefix.Length + 3];
        prefix.CopyTo(candidate, 0);
        if (Utf8.IsValid(prefix))
        {
            return true;
        }

        for (int extra = 1; extra <= 3; extra++)
        {
            int combinations = (int)Math.Pow(3, extra);
            for (int c = 0; c < combinations; c++)
            {
                int code = c;
                for (int k = 0; k < extra; k++)
                {
                    candidate[prefix.Length + k] = fillers[code % 3];
                    code /= 3;
                }

                if (Utf8.IsValid(candidate.AsSpan(0, prefix.Length + extra)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Mostly-valid text with occasional corruption, or raw bytes from the interesting UTF-8 alphabet.</summary>
    private static byte[] RandomCandidate(Random rng)
    {
        ReadOnlySpan<byte> alphabet =
        [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF,
            0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF,
        ];

        switch (rng.Next(4))
        {
            case 0:
            {
                byte[] raw = new byte[rng.Next(0, 12)];
                for (int i = 0; i < raw.Length; i++)
                {
                    raw[i] = alphabet[rng.Next(alphabet.Length)];
                }

                return raw;
            }

            case 1:
                return Encoding.UTF8.GetBytes(TextSamples.RandomText(rng, rng.Next(0, 40)));

            default:
            {
                var bytes = Encoding.UTF8.GetBytes(TextSamples.RandomText(rng, rng.Next(1, 40))).ToList();
                int edits = rng.Next(1, 3);
                for (int e = 0; e < edits; e++)
                {
                    int at = rng.Next(bytes.Count + 1);
                    switch (rng.Next(3))
                    {
                        case 0 when bytes.Count > 0:
                            bytes.RemoveAt(Math.Min(at, bytes.Count - 1));
                            break;
                        case 1:
                            bytes.Insert(at, alphabet[rng.Next(alphabet.Length)]);
                            break;
                        default:
                            if (bytes.Count > 0)
                            {
                                bytes[Math.Min(at, bytes.Count - 1)] = alphabet[rng.Next(alphabet.Length)];
                            }

                            break;
                    }
                }

                return [.. bytes];
            }
        }
    }
}
