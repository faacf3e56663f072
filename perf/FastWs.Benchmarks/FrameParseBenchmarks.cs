using System.Buffers;
using BenchmarkDotNet.Attributes;
using FastWs.Protocol.Frames;

namespace FastWs.Benchmarks;

/// <summary>
/// <see cref="WebSocketReader.Read"/> on masked client text frames, as the server sees them. One operation =
/// one complete message read from an input that holds exactly that message.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class FrameParseBenchmarks
{
    private const uint MaskKey = 0x5A3C_96E1;

    private byte[] _payload = [];

    // The masked single frame exactly as it arrives on the wire. Never modified.
    private byte[] _pristineFrame = [];

    // Working copy handed to the reader, which unmasks it in place.
    private byte[] _frame = [];

    // The same payload as three masked fragments (Text FIN=0, Continuation FIN=0, Continuation FIN=1).
    private byte[] _fragments = [];

    private WebSocketReader _reader = null!;

    /// <summary>Payload size in bytes.</summary>
    [Params(16, 128, 4096)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = TestData.Ascii(Size);

        var writer = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMaskedFrame(writer, WebSocketOpcode.Text, _payload, MaskKey);
        _pristineFrame = writer.WrittenSpan.ToArray();
        _frame = (byte[])_pristineFrame.Clone();

        writer.ResetWrittenCount();
        int first = Size / 3;
        int second = Size / 3;
        FrameWriter.WriteMaskedFrame(writer, WebSocketOpcode.Text, _payload.AsSpan(0, first), MaskKey, fin: false);
        FrameWriter.WriteMaskedFrame(writer, WebSocketOpcode.Continuation, _payload.AsSpan(first, second), MaskKey, fin: false);
        FrameWriter.WriteMaskedFrame(writer, WebSocketOpcode.Continuation, _payload.AsSpan(first + second), MaskKey, fin: true);
        _fragments = writer.WrittenSpan.ToArray();

        _reader = new WebSocketReader();

        // Sanity checks: each input must yield exactly the original message, repeatedly, and the fragmented
        // input must survive a read untouched (it goes through the copying path, so it needs no restoring).
        byte[] fragmentsBefore = (byte[])_fragments.Clone();
        for (int round = 0; round < 2; round++)
        {
            _pristineFrame.AsSpan().CopyTo(_frame);
            ExpectPayload(_frame, "single frame");
            ExpectPayload(_fragments, "3 fragments");
        }

        if (!_fragments.AsSpan().SequenceEqual(fragmentsBefore))
        {
            throw new InvalidOperationException("Reading the fragmented message modified its input.");
        }

        if (SingleFrame() != Size || Fragmented3() != Size)
        {
            throw new InvalidOperationException("A benchmark method did not read the whole message.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _reader.Dispose();

    /// <summary>
    /// One unfragmented frame: the zero-copy path, which unmasks the payload IN PLACE in the caller's buffer
    /// and validates UTF-8 there. Because that destroys the masked bytes, every operation first restores the
    /// wire bytes by copying the pristine frame over the working copy (a memcpy of the 6- or 8-byte header plus Size bytes). That copy is
    /// part of the measured time; <see cref="RestoreOnly"/> measures it alone so it can be subtracted. (The
    /// alternative, re-masking with Masking.Apply and the same key, which is its own inverse, would cost a
    /// second masking pass instead.)
    /// </summary>
    [Benchmark]
    [Throughput(nameof(Size))]
    public int SingleFrame()
    {
        _pristineFrame.AsSpan().CopyTo(_frame);
        var input = new ReadOnlySequence<byte>(_frame);
        WebSocketReadStatus status = _reader.Read(ref input, out WebSocketMessage message);
        return status == WebSocketReadStatus.Message && input.IsEmpty ? message.Payload.Length : -1;
    }

    /// <summary>
    /// The same payload in 3 fragments. Fragments never take the in-place path: each is copied into a buffer
    /// rented from ArrayPool&lt;byte&gt;.Shared and unmasked and UTF-8-checked there, so the input is left
    /// intact and needs no restoring. The rented buffer goes back to the pool at the start of the next Read.
    /// </summary>
    [Benchmark]
    [Throughput(nameof(Size))]
    public int Fragmented3()
    {
        var input = new ReadOnlySequence<byte>(_fragments);
        WebSocketReadStatus status = _reader.Read(ref input, out WebSocketMessage message);
        return status == WebSocketReadStatus.Message && input.IsEmpty ? message.Payload.Length : -1;
    }

    /// <summary>Only the restore copy that <see cref="SingleFrame"/> performs each time, to subtract from it.</summary>
    [Benchmark]
    public int RestoreOnly()
    {
        _pristineFrame.AsSpan().CopyTo(_frame);
        return _frame.Length;
    }

    private void ExpectPayload(byte[] wire, string what)
    {
        var input = new ReadOnlySequence<byte>(wire);
        WebSocketReadStatus status = _reader.Read(ref input, out WebSocketMessage message);
        if (status != WebSocketReadStatus.Message || !input.IsEmpty || message.Type != WebSocketMessageType.Text
            || !message.Payload.Span.SequenceEqual(_payload))
        {
            throw new InvalidOperationException(
                $"Reading the {what} (Size={Size}) gave {status}, {message.Type}, {message.Payload.Length} bytes, {input.Length} left over.");
        }
    }
}
