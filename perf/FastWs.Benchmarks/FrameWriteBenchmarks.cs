using System.Buffers;
using BenchmarkDotNet.Attributes;
using FastWs.Protocol.Frames;

namespace FastWs.Benchmarks;

/// <summary>Writing one unmasked server text frame (header + payload copy) into memory that is reused every time.</summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class FrameWriteBenchmarks
{
    private byte[] _payload = [];
    private byte[] _destination = [];
    private ArrayBufferWriter<byte> _bufferWriter = null!;
    private FrameBuilder _builder = null!;

    /// <summary>Payload size in bytes.</summary>
    [Params(16, 128, 4096)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = TestData.Ascii(Size);
        _destination = new byte[FrameWriter.GetFrameSize(Size)];
        _bufferWriter = new ArrayBufferWriter<byte>(FrameWriter.GetFrameSize(Size));
        _builder = new FrameBuilder(FrameWriter.MaxServerHeaderSize + Size);

        // Sanity check: all three must produce the same, correct frame bytes.
        int written = WriteFrame_Span();
        byte[] expected = _destination.AsSpan(0, written).ToArray();
        if (WriteFrame_BufferWriter() != expected.Length || !_bufferWriter.WrittenSpan.SequenceEqual(expected))
        {
            throw new InvalidOperationException("IBufferWriter overload wrote a different frame.");
        }

        _payload.CopyTo(_builder.GetSpan(Size));
        _builder.Advance(Size);
        if (!_builder.Complete().Span.SequenceEqual(expected))
        {
            throw new InvalidOperationException("FrameBuilder wrote a different frame.");
        }

        _builder.Reset();
        if (expected[0] != 0x81 || expected.Length != Size + FrameWriter.GetHeaderSize(Size))
        {
            throw new InvalidOperationException("Unexpected frame header.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _builder.Dispose();

    /// <summary>FrameWriter.WriteFrame into a preallocated span.</summary>
    [Benchmark(Baseline = true)]
    [Throughput(nameof(Size))]
    public int WriteFrame_Span() => FrameWriter.WriteFrame(_destination, WebSocketOpcode.Text, _payload);

    /// <summary>FrameWriter.WriteFrame into an ArrayBufferWriter that is rewound (not cleared) before each frame.</summary>
    [Benchmark]
    [Throughput(nameof(Size))]
    public int WriteFrame_BufferWriter()
    {
        _bufferWriter.ResetWrittenCount();
        FrameWriter.WriteFrame(_bufferWriter, WebSocketOpcode.Text, _payload);
        return _bufferWriter.WrittenCount;
    }

    /// <summary>The encode-once path: payload written through FrameBuilder's IBufferWriter, Complete(), then Reset().</summary>
    [Benchmark]
    [Throughput(nameof(Size))]
    public int FrameBuilder_WriteCompleteReset()
    {
        _payload.CopyTo(_builder.GetSpan(Size));
        _builder.Advance(Size);
        int length = _builder.Complete(WebSocketOpcode.Text).Length;
        _builder.Reset();
        return length;
    }
}
