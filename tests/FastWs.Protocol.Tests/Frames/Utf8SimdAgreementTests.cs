using System.Text;
using System.Text.Unicode;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>
/// The vectorised whole-buffer validator must agree with the BCL's <see cref="Utf8.IsValid(ReadOnlySpan{byte})"/>
/// on every input: valid multi-byte text of every length around the 16-byte block size, and the same text with
/// single bytes corrupted, truncated or with sequences cut at block boundaries.
/// </summary>
public sealed class Utf8SimdAgreementTests
{
    private static readonly string[] Pieces = ["a", "{\"p\":1}", "é", "ß", "€", "中", "日本", "😀", "𝄞", "Ω", " ", "\u07FF", "\u0800", "\uFFFD", "\U0010FFFF"];

    [Fact]
    public void Agrees_with_the_bcl_on_valid_and_corrupted_text()
    {
        var random = new Random(20261122);
        for (int round = 0; round < 20_000; round++)
        {
            var text = new StringBuilder();
            int target = random.Next(0, 300);
            while (text.Length < target)
            {
                text.Append(Pieces[random.Next(Pieces.Length)]);
            }

            byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
            Assert.True(Utf8StreamValidator.IsValid(bytes), $"valid text rejected (round {round})");

            if (bytes.Length == 0)
            {
                continue;
            }

            byte[] corrupted = (byte[])bytes.Clone();
            int mutations = random.Next(1, 3);
            for (int m = 0; m < mutations; m++)
            {
                corrupted[random.Next(corrupted.Length)] = (byte)random.Next(256);
            }

            Assert.Equal(Utf8.IsValid(corrupted), Utf8StreamValidator.IsValid(corrupted));

            byte[] truncated = bytes.AsSpan(0, random.Next(bytes.Length)).ToArray();
            Assert.Equal(Utf8.IsValid(truncated), Utf8StreamValidator.IsValid(truncated));
        }
    }

    [Fact]
    public void Agrees_with_the_bcl_on_random_bytes()
    {
        var random = new Random(7);
        for (int round = 0; round < 20_000; round++)
        {
            byte[] bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            // Mostly high bytes make random strings that are often valid sequences, not just lone garbage.
            for (int i = 0; i < bytes.Length; i++)
            {
                if (random.Next(4) == 0)
                {
                    bytes[i] = (byte)(0x80 | (bytes[i] & 0x3F));
                }
            }

            Assert.Equal(Utf8.IsValid(bytes), Utf8StreamValidator.IsValid(bytes));
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xC0, 0x80 })]
    [InlineData(new byte[] { 0xE0, 0x80, 0x80 })]
    [InlineData(new byte[] { 0xF0, 0x80, 0x80, 0x80 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 })]
    [InlineData(new byte[] { 0xF5, 0x80, 0x80, 0x80 })]
    [InlineData(new byte[] { 0x80 })]
    [InlineData(new byte[] { 0xE2, 0x82 })]
    public void Rejects_each_invalid_form_at_every_position_of_a_long_buffer(byte[] bad)
    {
        for (int at = 0; at <= 80; at++)
        {
            byte[] buffer = new byte[80 + bad.Length + 20];
            buffer.AsSpan().Fill((byte)'x');
            bad.CopyTo(buffer, at);
            Assert.False(Utf8StreamValidator.IsValid(buffer), $"invalid bytes at {at} accepted");

            // A valid multi-byte sequence at the same place is accepted (block boundaries inside it included).
            byte[] good = new byte[80 + 24];
            good.AsSpan().Fill((byte)'x');
            "😀"u8.CopyTo(good.AsSpan(at));
            Assert.True(Utf8StreamValidator.IsValid(good), $"valid sequence at {at} rejected");
        }
    }
}
