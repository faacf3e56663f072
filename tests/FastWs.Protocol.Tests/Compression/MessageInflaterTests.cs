using System.Buffers;
using System.Text;
using FastWs.Protocol.Compression;

namespace FastWs.Protocol.Tests.Compression;

/// <summary>RFC 7692 section 7.2.2 inflation, bounded by the message size limit while it runs.</summary>
public sealed class MessageInflaterTests
{
    private const int Limit = 64 * 1024;

    private static (InflateResult Result, string Text, byte[]? Output) Inflate(MessageInflater inflater, byte[] compressed, int limit = Limit)
    {
        byte[]? output = null;
        InflateResult result = inflater.Inflate(compressed, limit, ref output, out int length);
        string text = result == InflateResult.Ok ? Encoding.UTF8.GetString(output.AsSpan(0, length)) : string.Empty;
        return (result, text, output);
    }

    [Fact]
    public void Context_takeover_decodes_messages_that_refer_to_earlier_ones()
    {
        using var deflate = new Deflate();
        using var inflater = new MessageInflater(contextTakeover: true);
        string message = "{\"type\":\"subscribe\",\"channel\":\"price:SOL\"}";
        byte[] first = deflate.Message(message);
        byte[] second = deflate.Message(message);
        Assert.True(second.Length < first.Length / 2, "the second message is mostly a reference to the first");

        Assert.Equal((InflateResult.Ok, message), Pick(Inflate(inflater, first)));
        Assert.True(inflater.HoldsState);
        Assert.Equal((InflateResult.Ok, message), Pick(Inflate(inflater, second)));
        Assert.True(inflater.HoldsState);
    }

    [Fact]
    public void Without_context_takeover_nothing_is_held_between_messages()
    {
        using var inflater = new MessageInflater(contextTakeover: false);
        for (int i = 0; i < 3; i++)
        {
            string message = $"{{\"type\":\"ping\",\"n\":{i}}}";
            Assert.Equal((InflateResult.Ok, message), Pick(Inflate(inflater, Deflate.Once(message))));
            Assert.False(inflater.HoldsState);
        }
    }

    [Fact]
    public void A_message_referring_to_a_previous_one_fails_without_context_takeover()
    {
        using var deflate = new Deflate();
        using var inflater = new MessageInflater(contextTakeover: false);
        string message = new('x', 100);
        Assert.Equal(InflateResult.Ok, Inflate(inflater, deflate.Message(message)).Result);
        Assert.Equal(InflateResult.InvalidData, Inflate(inflater, deflate.Message(message)).Result);
    }

    [Theory]
    [InlineData(new byte[] { 0x00 })] // section 7.2.3.6: an empty message
    [InlineData(new byte[0])] // taken as the same
    public void Empty_messages_inflate_to_nothing(byte[] compressed)
    {
        using var inflater = new MessageInflater(contextTakeover: true);
        Assert.Equal((InflateResult.Ok, ""), Pick(Inflate(inflater, compressed)));
        Assert.Equal((InflateResult.Ok, "after"), Pick(Inflate(inflater, Deflate.Once("after"))));
    }

    [Fact]
    public void A_compression_bomb_stops_at_the_limit()
    {
        byte[] bomb = Deflate.Once(new byte[10 * 1024 * 1024]);
        Assert.True(bomb.Length < 20 * 1024, $"{bomb.Length} bytes");
        using var inflater = new MessageInflater(contextTakeover: true);

        (InflateResult result, _, byte[]? output) = Inflate(inflater, bomb);

        Assert.Equal(InflateResult.TooBig, result);
        Assert.NotNull(output);
        Assert.True(output.Length <= Limit, $"output grew to {output.Length} bytes");
        Assert.False(inflater.HoldsState); // mid-stream: dropped
        ArrayPool<byte>.Shared.Return(output);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(Limit)]
    public void A_message_of_exactly_the_limit_passes_and_one_byte_more_does_not(int limit)
    {
        using var inflater = new MessageInflater(contextTakeover: true);
        byte[] exact = Encoding.ASCII.GetBytes(new string('a', limit));
        (InflateResult result, string text, _) = Inflate(inflater, Deflate.Once(exact), limit);
        Assert.Equal(InflateResult.Ok, result);
        Assert.Equal(limit, text.Length);

        Assert.Equal(InflateResult.TooBig, Inflate(inflater, Deflate.Once([.. exact, (byte)'a']), limit).Result);
    }

    [Fact]
    public void Incompressible_data_inflates_whole()
    {
        byte[] data = new byte[40_000];
        new Random(7).NextBytes(data);
        using var inflater = new MessageInflater(contextTakeover: true);
        byte[]? output = null;
        Assert.Equal(InflateResult.Ok, inflater.Inflate(Deflate.Once(data), Limit, ref output, out int length));
        Assert.Equal(data, output.AsSpan(0, length).ToArray());
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF })] // block type 3 is reserved
    [InlineData(new byte[] { 0x00, 0x05, 0x00, 0x12, 0x34 })] // stored block whose length check fails
    [InlineData(new byte[] { 0xAA, 0x56, 0x2A, 0xA9, 0x2C, 0x48, 0x55, 0xB2, 0x52, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF })]
    public void Corrupt_data_is_invalid(byte[] compressed)
    {
        using var inflater = new MessageInflater(contextTakeover: true);
        Assert.Equal(InflateResult.InvalidData, Inflate(inflater, compressed).Result);
        Assert.False(inflater.HoldsState);
        // The connection would be closed; the inflater itself still works for a new stream.
        Assert.Equal((InflateResult.Ok, "ok"), Pick(Inflate(inflater, Deflate.Once("ok"))));
    }

    [Fact]
    public void A_message_ending_in_a_final_block_is_read_and_the_next_message_starts_a_new_stream()
    {
        using var inflater = new MessageInflater(contextTakeover: true);
        Assert.Equal((InflateResult.Ok, "final block"), Pick(Inflate(inflater, Deflate.WithFinalBlock("final block"))));
        Assert.Equal((InflateResult.Ok, "next"), Pick(Inflate(inflater, Deflate.Once("next"))));
        Assert.Equal((InflateResult.Ok, "final again"), Pick(Inflate(inflater, Deflate.WithFinalBlock("final again"))));
    }

    [Fact]
    public void Data_after_the_final_block_of_a_message_is_invalid()
    {
        using var inflater = new MessageInflater(contextTakeover: true);
        byte[] garbage = new byte[20_000];
        new Random(3).NextBytes(garbage);
        Assert.Equal(InflateResult.InvalidData, Inflate(inflater, [.. Deflate.WithFinalBlock("x"), .. garbage]).Result);
    }

    [Fact]
    public void A_message_cut_off_inside_a_block_is_invalid_without_context_takeover()
    {
        string text = string.Concat(Enumerable.Range(0, 200).Select(i => $"{{\"price\":{i}}},"));
        byte[] whole = Deflate.Once(text);
        using var inflater = new MessageInflater(contextTakeover: false);
        Assert.Equal((InflateResult.Ok, text), Pick(Inflate(inflater, whole)));
        for (int cut = 1; cut < whole.Length; cut += 7)
        {
            Assert.Equal(InflateResult.InvalidData, Inflate(inflater, whole[..cut]).Result);
        }
    }

    [Fact]
    public void With_context_takeover_a_cut_off_message_cannot_be_told_apart_and_yields_what_inflated()
    {
        // Documented limitation: the stream must stay open for the next message, so no final block can close it.
        string text = new('z', 3000);
        byte[] whole = Deflate.Once(text);
        using var inflater = new MessageInflater(contextTakeover: true);
        (InflateResult result, string inflated) = Pick(Inflate(inflater, whole[..(whole.Length / 2)]));
        Assert.True(result == InflateResult.InvalidData || (result == InflateResult.Ok && text.StartsWith(inflated, StringComparison.Ordinal)), $"{result} '{inflated}'");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_final_stored_block_ending_exactly_at_the_inflaters_input_buffer_size_is_read(bool contextTakeover)
    {
        // BFINAL stored block: 1 header octet, LEN, NLEN, then the data; 8192 octets in all, DeflateStream's input buffer.
        byte[] data = new byte[8192 - 5];
        new Random(5).NextBytes(data);
        byte[] message = [0x01, (byte)data.Length, (byte)(data.Length >> 8), (byte)~data.Length, (byte)(~data.Length >> 8), .. data];
        using var inflater = new MessageInflater(contextTakeover);
        byte[]? output = null;
        Assert.Equal(InflateResult.Ok, inflater.Inflate(message, Limit, ref output, out int length));
        Assert.Equal(data, output.AsSpan(0, length).ToArray());
        Assert.Equal((InflateResult.Ok, "next"), Pick(Inflate(inflater, Deflate.Once("next"))));
    }

    [Fact]
    public void Steady_state_with_context_takeover_allocates_nothing_per_message()
    {
        using var deflate = new Deflate();
        using var inflater = new MessageInflater(contextTakeover: true);
        byte[][] messages = [.. Enumerable.Range(0, 1000).Select(i => deflate.Message($"{{\"type\":\"publish\",\"channel\":\"price:SOL\",\"data\":{{\"price\":{150 + i}}}}}"))];
        byte[]? output = null;
        long least = long.MaxValue;
        int next = 0;
        for (int round = 0; round < 10; round++)
        {
            // The least of several rounds: the first ones include the runtime's own first-call work.
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                if (inflater.Inflate(messages[next++], Limit, ref output, out _) != InflateResult.Ok)
                {
                    Assert.Fail($"message {next - 1} did not inflate");
                }
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, least);
        ArrayPool<byte>.Shared.Return(output!);
    }

    private static (InflateResult, string) Pick((InflateResult Result, string Text, byte[]? Output) outcome)
    {
        if (outcome.Output is not null)
        {
            ArrayPool<byte>.Shared.Return(outcome.Output);
        }

        return (outcome.Result, outcome.Text);
    }
}

/// <summary>Whatever a client sends as compressed data, the inflater answers with a result, never an exception.</summary>
public sealed class MessageInflaterFuzzTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_and_mutated_payloads_give_a_result_and_never_throw(int seed)
    {
        var random = new Random(seed);
        byte[] valid = Deflate.Once(string.Concat(Enumerable.Repeat("{\"type\":\"publish\",\"channel\":\"price:SOL\",\"data\":{\"price\":150.25}}", 50)));
        using var takeover = new MessageInflater(contextTakeover: true);
        using var fresh = new MessageInflater(contextTakeover: false);
        var seen = new HashSet<InflateResult>();
        for (int i = 0; i < 300; i++)
        {
            byte[] payload;
            if (i % 2 == 0)
            {
                payload = new byte[random.Next(1, 3000)];
                random.NextBytes(payload);
            }
            else
            {
                // A valid message with a few bytes flipped, cut short, or both.
                payload = (byte[])valid.Clone();
                for (int flips = random.Next(1, 4); flips > 0; flips--)
                {
                    payload[random.Next(payload.Length)] ^= (byte)random.Next(1, 256);
                }

                payload = payload[..random.Next(1, payload.Length + 1)];
            }

            foreach (MessageInflater inflater in new[] { takeover, fresh })
            {
                byte[]? output = null;
                InflateResult result = inflater.Inflate(payload, 4096, ref output, out int length);
                Assert.InRange(length, 0, 4096);
                Assert.True(output is null || output.Length <= 4096, $"output grew to {output?.Length}");
                seen.Add(result);
                if (output is not null)
                {
                    ArrayPool<byte>.Shared.Return(output);
                }
            }
        }

        Assert.Contains(InflateResult.InvalidData, seen);
    }
}
