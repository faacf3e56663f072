using System.Buffers;
using System.IO.Compression;
using CommunityToolkit.HighPerformance.Buffers;
using FastWs.Protocol.Frames;

namespace FastWs.Server.FanOut;

/// <summary>
/// Compresses one message payload at a time for permessage-deflate (RFC 7692 section 7.2.1) and writes it as a
/// complete text frame with RSV1 set. One per fan-out shard's encoder; only the delivering thread uses it.
/// </summary>
/// <remarks>
/// <para>
/// Every message is compressed on its own (the server always negotiates <c>server_no_context_takeover</c>), so the
/// same compressed bytes are right for every subscriber whatever it received before, including one that joined a
/// moment ago. The runtime's zlib does the work: .NET 10 has no public raw-deflate encoder that can be reset
/// (no <c>DeflateEncoder</c>; <c>DeflateStream</c> cannot be reset), so each message gets a new
/// <see cref="DeflateStream"/> over one reused <see cref="ScratchStream"/>. That costs per MESSAGE, never per
/// subscriber: the stream's managed objects (a few hundred bytes, measured by PublishDeflateBenchmarks) and zlib's
/// native state set up and freed again. The compressed frame is then written once and shared by every subscriber.
/// </para>
/// <para>
/// Window: the runtime's <see cref="DeflateStream"/> always uses a 15-bit window. A message of L bytes can then only
/// refer back less than L bytes, so its frame suits any client whose <c>server_max_window_bits</c> N has
/// 2^N &gt;= L (see <see cref="FrameRun.DeflatedFor"/>); a client that asked for less gets such runs uncompressed.
/// </para>
/// </remarks>
internal sealed class MessageDeflater : IDisposable
{
    /// <summary>zlib's default level (6): on 1 KB of JSON it is a few microseconds once per message, shared by every subscriber.</summary>
    private static readonly ZLibCompressionOptions s_options = new() { CompressionLevel = 6, CompressionStrategy = ZLibCompressionStrategy.Default };

    /// <summary>RFC 7692 section 7.2.1: a sync flush ends with an empty stored block, 00 00 ff ff, which the sender removes.</summary>
    private static ReadOnlySpan<byte> SyncFlushTail => [0x00, 0x00, 0xff, 0xff];

    /// <summary>FIN + RSV1 (the message is compressed) + opcode: RSV1 is 0x40 in the first header byte.</summary>
    private const byte Rsv1 = 0x40;

    private readonly ScratchStream _compressed = new();

    /// <summary>
    /// Compresses <paramref name="payload"/> and appends it to <paramref name="output"/> as a text frame with RSV1.
    /// Returns false, writing nothing, when compression would not make it smaller (the caller sends it plain).
    /// </summary>
    public bool TryWriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        _compressed.Clear();
        int length;
        using (var deflate = new DeflateStream(_compressed, s_options, leaveOpen: true))
        {
            deflate.Write(payload);
            // Flush is zlib's Z_SYNC_FLUSH: everything so far, ending on a byte boundary with 00 00 ff ff. What
            // disposing adds after it (an empty final block) is not part of the message.
            deflate.Flush();
            length = _compressed.Written.Length - SyncFlushTail.Length;
            if (length < 0 || !_compressed.Written[length..].SequenceEqual(SyncFlushTail))
            {
                throw new InvalidOperationException("zlib's sync flush did not end with 00 00 ff ff.");
            }
        }

        if (length >= payload.Length)
        {
            return false;
        }

        int headerLength = FrameWriter.GetHeaderSize(length);
        Span<byte> span = output.GetSpan(headerLength + length);
        FrameWriter.WriteHeader(span, WebSocketOpcode.Text, length);
        span[0] |= Rsv1;
        _compressed.Written[..length].CopyTo(span[headerLength..]);
        output.Advance(headerLength + length);
        return true;
    }

    public void Dispose() => _compressed.Dispose();

    /// <summary>A write-only stream into a pooled buffer that is kept between messages (no stream or array per message).</summary>
    private sealed class ScratchStream : Stream
    {
        private readonly ArrayPoolBufferWriter<byte> _buffer = new(4096);

        public ReadOnlySpan<byte> Written => _buffer.WrittenSpan;

        public void Clear() => _buffer.Clear();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _buffer.WrittenCount;

        public override long Position
        {
            get => _buffer.WrittenCount;
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer) => _buffer.Write(buffer);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void WriteByte(byte value) => Write([value]);

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _buffer.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
