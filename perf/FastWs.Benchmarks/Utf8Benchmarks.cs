using System.Text.Unicode;
using BenchmarkDotNet.Attributes;
using FastWs.Protocol.Frames;

namespace FastWs.Benchmarks;

public enum Utf8Text
{
    /// <summary>JSON-like ASCII only.</summary>
    Ascii,

    /// <summary>Mixed JSON-like text: 58% of the bytes belong to 2-, 3- and 4-byte sequences (35% of code points are non-ASCII).</summary>
    Mixed,
}

/// <summary>
/// <see cref="Utf8StreamValidator"/> on 64 KiB of valid text, whole and in 4 KiB pieces (pieces cut wherever the
/// byte count falls, so Mixed text is split inside multi-byte sequences and exercises the carry-over path).
/// The baseline is the BCL's vectorised Utf8.IsValid on the whole buffer, which the validator builds on.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class Utf8Benchmarks
{
    private const int Size = 64 * 1024;
    private const int PieceSize = 4 * 1024;

    private byte[] _data = [];

    [Params(Utf8Text.Ascii, Utf8Text.Mixed)]
    public Utf8Text Text { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = Text == Utf8Text.Ascii ? TestData.Ascii(Size) : TestData.Mixed(Size);
        if (!Utf8IsValid() || !Append_Whole() || !Append_4KiBPieces())
        {
            throw new InvalidOperationException("Valid UTF-8 was rejected.");
        }

        if (Text == Utf8Text.Mixed && !CutsASequence())
        {
            throw new InvalidOperationException("No 4 KiB boundary falls inside a multi-byte sequence; the piece case would not test carrying.");
        }
    }

    [Benchmark(Baseline = true)]
    [Throughput(Size)]
    public bool Utf8IsValid() => Utf8.IsValid(_data);

    [Benchmark]
    [Throughput(Size)]
    public bool Append_Whole()
    {
        var validator = default(Utf8StreamValidator);
        return validator.Append(_data) && validator.IsComplete;
    }

    [Benchmark]
    [Throughput(Size)]
    public bool Append_4KiBPieces()
    {
        var validator = default(Utf8StreamValidator);
        ReadOnlySpan<byte> data = _data;
        for (int at = 0; at < data.Length; at += PieceSize)
        {
            if (!validator.Append(data.Slice(at, Math.Min(PieceSize, data.Length - at))))
            {
                return false;
            }
        }

        return validator.IsComplete;
    }

    private bool CutsASequence()
    {
        for (int at = PieceSize; at < _data.Length; at += PieceSize)
        {
            if ((_data[at] & 0xC0) == 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
