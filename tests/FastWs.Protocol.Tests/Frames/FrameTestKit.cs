using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastWs.Protocol.Frames;

namespace FastWs.Protocol.Tests.Frames;

/// <summary>A message as a test saw it: its type and a private copy of its payload (as hex, so records compare by value).</summary>
internal readonly record struct Received(WebSocketMessageType Type, string PayloadHex)
{
    public static Received Of(WebSocketMessageType type, ReadOnlySpan<byte> payload) => new(type, Convert.ToHexString(payload));

    public static Received Text(string text) => Of(WebSocketMessageType.Text, Encoding.UTF8.GetBytes(text));

    public byte[] Payload => Convert.FromHexString(PayloadHex);

    public override string ToString() => PayloadHex.Length <= 64
        ? $"{Type}:{PayloadHex}"
        : $"{Type}:{PayloadHex[..64]}...({PayloadHex.Length / 2} bytes)";
}

/// <summary>Builds frames byte by byte, independently of <see cref="FrameWriter"/>, so malformed frames can be made too.</summary>
internal static class Wire
{
    public const uint DefaultKey = 0x9A_3C_F1_27;

    /// <summary>A header with the shortest length encoding; masked headers carry <paramref name="key"/> in wire order.</summary>
    public static byte[] Header(byte first, long length, bool masked, uint key = DefaultKey)
    {
        var header = new List<byte> { first };
        byte maskBit = masked ? (byte)0x80 : (byte)0;
        if (length <= 125)
        {
            header.Add((byte)(maskBit | length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.Add((byte)(maskBit | 126));
            header.Add((byte)(length >> 8));
            header.Add((byte)length);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            for (int shift = 56; shift >= 0; shift -= 8)
            {
                header.Add((byte)((ulong)length >> shift));
            }
        }

        if (masked)
        {
            header.AddRange(KeyBytes(key));
        }

        return [.. header];
    }

    /// <summary>A whole frame with an arbitrary first byte (FIN, RSV bits, opcode), masked the naive way when asked.</summary>
    public static byte[] Raw(byte first, ReadOnlySpan<byte> payload, bool masked, uint key = DefaultKey)
    {
        byte[] header = Header(first, payload.Length, masked, key);
        byte[] frame = new byte[header.Length + payload.Length];
        header.CopyTo(frame, 0);
        byte[] k = KeyBytes(key);
        for (int i = 0; i < payload.Length; i++)
        {
            frame[header.Length + i] = masked ? (byte)(payload[i] ^ k[i % 4]) : payload[i];
        }

        return frame;
    }

    /// <summary>A frame as a peer of <paramref name="readerRole"/> sends it: masked (client to server) or not (server to client).</summary>
    public static byte[] Frame(WebSocketRole readerRole, WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true, uint key = DefaultKey) =>
        Raw(FirstByte(opcode, fin), payload, masked: readerRole == WebSocketRole.Server, key);

    public static byte[] Frame(WebSocketRole readerRole, WebSocketOpcode opcode, string text, bool fin = true, uint key = DefaultKey) =>
        Frame(readerRole, opcode, Encoding.UTF8.GetBytes(text), fin, key);

    /// <summary>A client frame produced by <see cref="FrameWriter.WriteMaskedFrame"/>.</summary>
    public static byte[] WriterMasked(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, uint key, bool fin = true)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteMaskedFrame(output, opcode, payload, key, fin);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>A server frame produced by <see cref="FrameWriter.WriteFrame(IBufferWriter{byte}, WebSocketOpcode, ReadOnlySpan{byte}, bool)"/>.</summary>
    public static byte[] WriterUnmasked(WebSocketOpcode opcode, ReadOnlySpan<byte> payload, bool fin = true)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.WriteFrame(output, opcode, payload, fin);
        return output.WrittenSpan.ToArray();
    }

    public static byte[] ClosePayload(ushort code, ReadOnlySpan<byte> reason)
    {
        byte[] payload = new byte[2 + reason.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, code);
        reason.CopyTo(payload.AsSpan(2));
        return payload;
    }

    public static byte FirstByte(WebSocketOpcode opcode, bool fin = true) => (byte)((fin ? 0x80 : 0) | (byte)opcode);

    /// <summary>The mask key's bytes in wire order (the key is the little-endian reading of them, see <see cref="Masking.ReadMaskKey"/>).</summary>
    public static byte[] KeyBytes(uint key) => [(byte)key, (byte)(key >> 8), (byte)(key >> 16), (byte)(key >> 24)];

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    public static byte[] RandomBytes(Random rng, int length)
    {
        byte[] bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Sorted cut points strictly inside (0, length), possibly repeated when <paramref name="allowEmpty"/>.</summary>
    public static int[] RandomCuts(Random rng, int length, int count, bool allowEmpty = false)
    {
        if (length < 2)
        {
            return [];
        }

        var cuts = Enumerable.Range(0, count).Select(_ => rng.Next(1, length));
        return allowEmpty ? [.. cuts.Order()] : [.. cuts.Distinct().Order()];
    }

    /// <summary>Cuts <paramref name="data"/> into fresh arrays at the given points.</summary>
    public static byte[][] Cut(ReadOnlySpan<byte> data, IReadOnlyList<int> cuts)
    {
        var parts = new List<byte[]>();
        int start = 0;
        foreach (int cut in cuts)
        {
            parts.Add(data[start..cut].ToArray());
            start = cut;
        }

        parts.Add(data[start..].ToArray());
        return [.. parts];
    }
}

/// <summary>
/// Drives a <see cref="WebSocketReader"/> the way a <c>PipeReader</c> loop does: all unconsumed bytes stay pending,
/// new bytes are appended as they "arrive" (as a new segment), and Read is called until it needs more data or fails.
/// Every byte handed to the reader is a fresh copy, because the zero-copy path unmasks in place.
/// </summary>
internal sealed class FrameFeeder : IDisposable
{
    private readonly List<byte[]> _pending = [];

    public FrameFeeder(WebSocketReaderOptions? options = null, FastWs.Protocol.Compression.DeflateParameters deflate = default)
    {
        Reader = new WebSocketReader(options, deflate);
    }

    public WebSocketReader Reader { get; }

    public List<Received> Messages { get; } = [];

    public WebSocketReadStatus Status { get; private set; } = WebSocketReadStatus.NeedMoreData;

    public ushort ErrorCode => Reader.ErrorCloseCode;

    public int PendingBytes => _pending.Sum(p => p.Length);

    public static FrameFeeder Server(int maxMessageSize = WebSocketReaderOptions.DefaultMaxMessageSize) =>
        new(new WebSocketReaderOptions { Role = WebSocketRole.Server, MaxMessageSize = maxMessageSize });

    public static FrameFeeder Client(int maxMessageSize = WebSocketReaderOptions.DefaultMaxMessageSize) =>
        new(new WebSocketReaderOptions { Role = WebSocketRole.Client, MaxMessageSize = maxMessageSize });

    public static FrameFeeder For(WebSocketRole role, int maxMessageSize = WebSocketReaderOptions.DefaultMaxMessageSize) =>
        role == WebSocketRole.Server ? Server(maxMessageSize) : Client(maxMessageSize);

    /// <summary>Bytes arrive as one new segment.</summary>
    public WebSocketReadStatus Push(ReadOnlySpan<byte> chunk) => PushSegments(chunk.ToArray());

    /// <summary>Bytes arrive as several new segments in one go (one read result spanning several pipe segments).</summary>
    public WebSocketReadStatus PushSegments(params byte[][] segments)
    {
        var all = new List<byte[]>(_pending);
        all.AddRange(segments.Where(s => s.Length > 0).Select(s => (byte[])s.Clone()));
        _pending.Clear();
        ReadOnlySequence<byte> buffer = all.Count == 0 ? ReadOnlySequence<byte>.Empty : SegmentedSequence.Create([.. all]);
        return Drain(buffer);
    }

    /// <summary>Hands the reader an arbitrary sequence (it must be this feeder's first input, or follow a fully consumed one).</summary>
    public WebSocketReadStatus PushSequence(ReadOnlySequence<byte> sequence)
    {
        Assert.Empty(_pending);
        return Drain(sequence);
    }

    public void PushOneByteAtATime(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
        {
            if (Push([b]) == WebSocketReadStatus.ProtocolError)
            {
                return;
            }
        }
    }

    public void PushInChunks(ReadOnlySpan<byte> data, IReadOnlyList<int> cuts)
    {
        foreach (byte[] chunk in Wire.Cut(data, cuts))
        {
            if (Push(chunk) == WebSocketReadStatus.ProtocolError)
            {
                return;
            }
        }
    }

    public void Dispose() => Reader.Dispose();

    private WebSocketReadStatus Drain(ReadOnlySequence<byte> buffer)
    {
        WebSocketReadStatus status;
        while ((status = Reader.Read(ref buffer, out WebSocketMessage message)) == WebSocketReadStatus.Message)
        {
            // The payload is only valid until the next Read: copy it now.
            Messages.Add(Received.Of(message.Type, message.Payload.Span));
        }

        if (status == WebSocketReadStatus.NeedMoreData)
        {
            // Payload is consumed as it arrives; only a partial header (at most 13 of 14 bytes) may be left.
            Assert.True(buffer.Length < 14, $"NeedMoreData left {buffer.Length} bytes unconsumed");
        }

        foreach (ReadOnlyMemory<byte> segment in buffer)
        {
            if (!segment.IsEmpty)
            {
                _pending.Add(segment.ToArray());
            }
        }

        Status = status;
        return status;
    }
}

/// <summary>Feeding strategies that must all give the same result for the same wire bytes.</summary>
internal static class Feed
{
    public static FrameFeeder Whole(byte[] wire, WebSocketReaderOptions options)
    {
        var feeder = new FrameFeeder(options);
        feeder.Push(wire);
        return feeder;
    }

    public static FrameFeeder OneByteAtATime(byte[] wire, WebSocketReaderOptions options)
    {
        var feeder = new FrameFeeder(options);
        feeder.PushOneByteAtATime(wire);
        return feeder;
    }

    public static FrameFeeder InChunks(byte[] wire, IReadOnlyList<int> cuts, WebSocketReaderOptions options)
    {
        var feeder = new FrameFeeder(options);
        feeder.PushInChunks(wire, cuts);
        return feeder;
    }

    /// <summary>Everything present at once, but spread over segments (never contiguous across a cut).</summary>
    public static FrameFeeder Segmented(byte[] wire, int[] cuts, WebSocketReaderOptions options)
    {
        var feeder = new FrameFeeder(options);
        feeder.PushSequence(SegmentedSequence.Split(wire.ToArray(), cuts));
        return feeder;
    }

    public static FrameFeeder OneBytePerSegment(byte[] wire, WebSocketReaderOptions options)
    {
        var feeder = new FrameFeeder(options);
        feeder.PushSequence(SegmentedSequence.OneBytePerSegment(wire.ToArray()));
        return feeder;
    }

    /// <summary>Runs every strategy (random ones seeded) and returns (name, feeder) pairs; the caller disposes them.</summary>
    public static IEnumerable<(string Name, FrameFeeder Feeder)> AllWays(byte[] wire, WebSocketReaderOptions options, int seed, bool includeOneByte = true)
    {
        var rng = new Random(seed);
        yield return ("whole", Whole(wire, options));
        if (includeOneByte)
        {
            yield return ("one byte at a time", OneByteAtATime(wire, options));
            yield return ("one byte per segment", OneBytePerSegment(wire, options));
        }

        for (int i = 0; i < 3; i++)
        {
            int[] cuts = Wire.RandomCuts(rng, wire.Length, rng.Next(1, 12));
            yield return ($"chunks at [{string.Join(',', cuts)}]", InChunks(wire, cuts, options));
            yield return ($"segments at [{string.Join(',', cuts)}]", Segmented(wire, cuts, options));
        }

        // Pipes can hand out empty segments too: repeated cuts and cuts at the very ends make some.
        int[] withEmpty = [0, .. Wire.RandomCuts(rng, wire.Length, rng.Next(1, 8), allowEmpty: true), .. Wire.RandomCuts(rng, wire.Length, 2), wire.Length];
        Array.Sort(withEmpty);
        yield return ($"segments with empty ones at [{string.Join(',', withEmpty)}]", Segmented(wire, withEmpty, options));
    }
}

/// <summary>Random UTF-8 text that covers every sequence length and the edges of the Unicode ranges.</summary>
internal static class TextSamples
{
    private static readonly string[] Pieces =
    [
        "a", "Z", " ", "~", "\u007F", "é", "ß", "ж", "\u0080", "\u07FF", "€", "中", "\u0800", "\uD7FF", "\uE000", "\uFFFD", "\uFFFF",
        "😀", "𐍈", char.ConvertFromUtf32(0x10000), char.ConvertFromUtf32(0x10FFFF),
    ];

    public static string RandomText(Random rng, int pieces)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < pieces; i++)
        {
            builder.Append(Pieces[rng.Next(Pieces.Length)]);
        }

        return builder.ToString();
    }

    /// <summary>Valid UTF-8 of exactly <paramref name="length"/> bytes mixing 1- to 4-byte sequences.</summary>
    public static byte[] RandomUtf8OfLength(Random rng, int length)
    {
        var bytes = new List<byte>(length);
        Span<byte> buffer = stackalloc byte[4];
        while (bytes.Count < length)
        {
            int room = length - bytes.Count;
            string piece = Pieces[rng.Next(Pieces.Length)];
            int written = Encoding.UTF8.GetBytes(piece, buffer);
            if (written > room)
            {
                continue;
            }

            for (int i = 0; i < written; i++)
            {
                bytes.Add(buffer[i]);
            }
        }

        return [.. bytes];
    }
}
