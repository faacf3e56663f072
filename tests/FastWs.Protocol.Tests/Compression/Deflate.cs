using System.IO.Compression;
using System.Text;
using FastWs.Protocol.Compression;

namespace FastWs.Protocol.Tests.Compression;

/// <summary>Compressed payloads as an RFC 7692 sender makes them, with the runtime's zlib (independent of the inflater under test).</summary>
internal sealed class Deflate : IDisposable
{
    private readonly MemoryStream _output = new();
    private readonly DeflateStream _compressor;

    /// <summary>One compressor for a series of messages: later messages may refer back to earlier ones (context takeover).</summary>
    public Deflate(CompressionLevel level = CompressionLevel.Optimal)
    {
        _compressor = new DeflateStream(_output, level, leaveOpen: true);
    }

    /// <summary>The next message: sync-flushed, with the trailing 0x00 0x00 0xff 0xff removed (RFC 7692 section 7.2.1).</summary>
    public byte[] Message(ReadOnlySpan<byte> data)
    {
        _output.SetLength(0);
        _compressor.Write(data);
        _compressor.Flush();
        byte[] bytes = _output.ToArray();
        Assert.True(bytes.AsSpan().EndsWith(new byte[] { 0x00, 0x00, 0xFF, 0xFF }), "a sync flush ends with the empty stored block");
        return bytes[..^4];
    }

    public byte[] Message(string text) => Message(Encoding.UTF8.GetBytes(text));

    /// <summary>A message compressed on its own (no context takeover).</summary>
    public static byte[] Once(ReadOnlySpan<byte> data)
    {
        using var deflate = new Deflate();
        return deflate.Message(data);
    }

    public static byte[] Once(string text) => Once(Encoding.UTF8.GetBytes(text));

    /// <summary>A complete DEFLATE stream ending in a final block (BFINAL), as RFC 7692 section 7.2.3.3 allows.</summary>
    public static byte[] WithFinalBlock(string text)
    {
        using var output = new MemoryStream();
        using (var compressor = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            compressor.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    public static DeflateParameters Negotiated(string offer = "permessage-deflate", bool allowClientContextTakeover = false)
    {
        Assert.True(PerMessageDeflateNegotiation.TryNegotiate(offer, new DeflateNegotiationOptions { AllowClientContextTakeover = allowClientContextTakeover }, out DeflateParameters parameters));
        return parameters;
    }

    public void Dispose()
    {
        _compressor.Dispose();
        _output.Dispose();
    }
}
