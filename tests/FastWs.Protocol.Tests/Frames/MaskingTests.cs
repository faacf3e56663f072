using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>The vectorised XOR masking against a byte-by-byte reference (RFC 6455 5.3).</summary>
public class MaskingTests
{
    private const int Guard = 40;

    [Fact]
    public void Apply_matches_the_naive_reference_for_every_length_offset_and_alignment()
    {
        var rng = new Random(123);
        for (int length = 0; length <= 300; length++)
        {
            for (int offset = 0; offset < 4; offset++)
            {
                uint key = NextKey(rng);
                int start = rng.Next(0, 32); // unaligned starts
                byte[] buffer = Wire.RandomBytes(rng, Guard + start + length + Guard);
                byte[] expected = (byte[])buffer.Clone();
                NaiveMask(expected.AsSpan(Guard + start, length), key, offset);

                Masking.Apply(buffer.AsSpan(Guard + start, length), key, offset);

                // Equal including the guard bytes on both sides: nothing outside the span may be touched.
                Assert.True(expected.AsSpan().SequenceEqual(buffer), $"length {length}, offset {offset}, start {start}, key {key:X8}");
            }
        }
    }

    [Theory]
    [InlineData(4L)]
    [InlineData(5L)]
    [InlineData(7L)]
    [InlineData(1L << 33)]
    [InlineData((1L << 33) + 3)]
    [InlineData(long.MaxValue)]
    public void Only_the_offset_modulo_four_matters(long offset)
    {
        var rng = new Random((int)(offset & 0xFFFF));
        byte[] data = Wire.RandomBytes(rng, 77);
        byte[] expected = (byte[])data.Clone();
        uint key = NextKey(rng);
        NaiveMask(expected, key, (int)(offset % 4));

        Masking.Apply(data, key, offset);

        Assert.Equal(expected, data);
    }

    [Fact]
    public void Applying_in_pieces_with_running_offsets_equals_applying_once()
    {
        var rng = new Random(456);
        for (int round = 0; round < 500; round++)
        {
            int length = rng.Next(0, 400);
            uint key = NextKey(rng);
            byte[] original = Wire.RandomBytes(rng, length);
            byte[] once = (byte[])original.Clone();
            Masking.Apply(once, key, 0);

            byte[] pieces = (byte[])original.Clone();
            int[] cuts = Wire.RandomCuts(rng, length, rng.Next(0, 10), allowEmpty: true);
            int start = 0;
            foreach (int end in cuts.Append(length))
            {
                Masking.Apply(pieces.AsSpan(start, end - start), key, start);
                start = end;
            }

            Assert.True(once.AsSpan().SequenceEqual(pieces), $"round {round}: cuts [{string.Join(',', cuts)}]");
        }
    }

    [Fact]
    public void Applying_twice_restores_the_data()
    {
        var rng = new Random(9);
        byte[] original = Wire.RandomBytes(rng, 1000);
        byte[] data = (byte[])original.Clone();
        uint key = NextKey(rng);

        Masking.Apply(data, key, 3);
        Assert.NotEqual(original, data);
        Masking.Apply(data, key, 3);

        Assert.Equal(original, data);
    }

    [Fact]
    public void Key_bytes_apply_in_wire_order()
    {
        byte[] wireKey = [0x01, 0x02, 0x03, 0x04];
        uint key = Masking.ReadMaskKey(wireKey);
        byte[] zeros = new byte[9];

        Masking.Apply(zeros, key, 0);

        Assert.Equal(new byte[] { 1, 2, 3, 4, 1, 2, 3, 4, 1 }, zeros);

        byte[] back = new byte[4];
        Masking.WriteMaskKey(back, key);
        Assert.Equal(wireKey, back);
    }

    [Fact]
    public void Rfc_6455_example_unmasks_to_Hello()
    {
        // RFC 6455 5.7: a masked text frame containing "Hello".
        byte[] frame = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58];
        uint key = Masking.ReadMaskKey(frame.AsSpan(2, 4));

        Masking.Apply(frame.AsSpan(6), key, 0);

        Assert.Equal("Hello"u8.ToArray(), frame[6..]);
        Assert.Equal(
            [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58],
            Wire.WriterMasked(WebSocketOpcode.Text, "Hello"u8, key));
    }

    [Fact]
    public void CopyAndApply_matches_the_reference_and_leaves_the_source_alone()
    {
        var rng = new Random(31);
        for (int length = 0; length <= 100; length++)
        {
            byte[] source = Wire.RandomBytes(rng, length);
            byte[] sourceCopy = (byte[])source.Clone();
            byte[] destination = Wire.RandomBytes(rng, length + Guard);
            byte[] tail = destination[length..];
            uint key = NextKey(rng);
            int offset = rng.Next(4);
            byte[] expected = (byte[])source.Clone();
            NaiveMask(expected, key, offset);

            Masking.CopyAndApply(source, destination, key, offset);

            Assert.Equal(expected, destination[..length]);
            Assert.Equal(tail, destination[length..]);
            Assert.Equal(sourceCopy, source);
        }
    }

    private static uint NextKey(Random rng) => (uint)rng.NextInt64(0, 1L << 32);

    /// <summary>The RFC's definition: octet i of the payload is XOR-ed with octet (i + offset) mod 4 of the wire key.</summary>
    private static void NaiveMask(Span<byte> data, uint key, int offset)
    {
        byte[] wireKey = Wire.KeyBytes(key);
        for (int i = 0; i < data.Length; i++)
        {
            data[i] ^= wireKey[(i + offset) % 4];
        }
    }
}
