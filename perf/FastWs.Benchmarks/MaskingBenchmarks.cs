using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using FastWs.Protocol.Frames;

namespace FastWs.Benchmarks;

/// <summary>
/// <see cref="Masking.Apply"/> over a 64 KiB payload, in place. Applying the mask twice restores the data, so
/// the buffer simply toggles between two states and needs no reset. The GB/s column is Bytes/op / Median.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class MaskingBenchmarks
{
    private const uint MaskKey = 0x5A3C_96E1;

    private byte[] _block = [];
    private int _start;

    /// <summary>Payload size in bytes.</summary>
    [Params(64 * 1024)]
    public int Size { get; set; }

    /// <summary>
    /// Where the payload starts relative to a 64-byte (cache-line) boundary: 0 = aligned, 14 = right after the
    /// 14-byte header of a masked frame longer than 65535 bytes, the usual case in a receive buffer.
    /// </summary>
    [Params(0, 14)]
    public int Misalignment { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Pinned so the address, and therefore the alignment, cannot change under the benchmark.
        _block = GC.AllocateArray<byte>(Size + 128, pinned: true);
        TestData.Mixed(_block.Length).CopyTo(_block, 0);
        long address = Marshal.UnsafeAddrOfPinnedArrayElement(_block, 0);
        _start = (int)((64 - (address & 63)) & 63) + Misalignment;

        // Sanity check against a byte-by-byte reference, at a payload offset that is not a multiple of 4.
        byte[] original = _block.AsSpan(_start, Size).ToArray();
        Masking.Apply(_block.AsSpan(_start, Size), MaskKey, 1);
        Span<byte> key = stackalloc byte[4];
        Masking.WriteMaskKey(key, MaskKey);
        for (int i = 0; i < Size; i++)
        {
            if (_block[_start + i] != (byte)(original[i] ^ key[(i + 1) & 3]))
            {
                throw new InvalidOperationException($"Masking.Apply is wrong at byte {i}.");
            }
        }

        Masking.Apply(_block.AsSpan(_start, Size), MaskKey, 1);
        if (!_block.AsSpan(_start, Size).SequenceEqual(original))
        {
            throw new InvalidOperationException("Masking twice did not restore the data.");
        }
    }

    [Benchmark]
    [Throughput(nameof(Size))]
    public void Apply() => Masking.Apply(_block.AsSpan(_start, Size), MaskKey, 0);
}
