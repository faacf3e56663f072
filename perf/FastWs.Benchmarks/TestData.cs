using System.Buffers;
using System.Text;
using FastWs.Protocol.Frames;

namespace FastWs.Benchmarks;

/// <summary>Deterministic payloads shared by the benchmarks.</summary>
internal static class TestData
{
    /// <summary>A JSON-ish ASCII line, the typical shape of a fan-out text message.</summary>
    private const string AsciiSample = "{\"type\":\"tick\",\"symbol\":\"EURUSD\",\"bid\":1.08423,\"ask\":1.08425,\"seq\":123456789}\n";

    /// <summary>ASCII interleaved with 2-byte (Latin-1, Cyrillic), 3-byte (CJK, kana, euro) and 4-byte (emoji) sequences.</summary>
    private const string MixedSample = "{\"user\":\"Zoë Müller\",\"msg\":\"Grüße! Привет, мир. 你好，世界。こんにちは 🎉🚀 price 12,50 € ✓\"}\n";

    /// <summary>Exactly <paramref name="length"/> bytes of valid ASCII.</summary>
    public static byte[] Ascii(int length) => Repeat(AsciiSample, length);

    /// <summary>Exactly <paramref name="length"/> bytes of valid UTF-8 with many multi-byte sequences.</summary>
    public static byte[] Mixed(int length) => Repeat(MixedSample, length);

    /// <summary>The unmasked final text frame a server sends for <paramref name="payload"/>, built by <see cref="FrameWriter"/>.</summary>
    public static byte[] TextFrame(string payload)
    {
        var writer = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(writer, WebSocketOpcode.Text, Encoding.UTF8.GetBytes(payload));
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Repeats <paramref name="sample"/> whole until the next copy would not fit, then pads with ASCII spaces,
    /// so the result is exactly <paramref name="length"/> bytes and never ends inside a UTF-8 sequence.
    /// </summary>
    private static byte[] Repeat(string sample, int length)
    {
        byte[] unit = Encoding.UTF8.GetBytes(sample);
        byte[] result = new byte[length];
        int at = 0;
        while (at + unit.Length <= length)
        {
            unit.CopyTo(result, at);
            at += unit.Length;
        }

        if (at == 0)
        {
            // Shorter than one sample: take an ASCII-safe prefix (the samples start with ASCII).
            int prefix = 0;
            while (prefix < length && unit[prefix] < 0x80)
            {
                prefix++;
            }

            unit.AsSpan(0, prefix).CopyTo(result);
            at = prefix;
        }

        result.AsSpan(at).Fill((byte)' ');
        return result;
    }
}
