using System.Buffers;
using System.Text;
using FastWs.Protocol.Handshake;

namespace FastWs.Protocol.Tests.Handshake;

/// <summary>Builds upgrade requests as raw bytes and runs the parser over them.</summary>
internal static class HandshakeTestRequests
{
    /// <summary>The key from RFC 6455 section 1.3.</summary>
    public const string SampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

    /// <summary>
    /// The accept value RFC 6455 sections 1.3 and 4.2.2 derive from <see cref="SampleKey"/> (the spec's own text,
    /// and what SHA-1 + base64 actually yield; "s3pPLMBiTxaQ9kYGzzo+BOOPLEo=" sometimes quoted for it is wrong).
    /// </summary>
    public const string SampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    public const string DefaultRequestLine = "GET /chat HTTP/1.1";

    /// <summary>The client handshake of RFC 6455 section 1.2, verbatim.</summary>
    public const string RfcSample =
        "GET /chat HTTP/1.1\r\n" +
        "Host: server.example.com\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Origin: http://example.com\r\n" +
        "Sec-WebSocket-Protocol: chat, superchat\r\n" +
        "Sec-WebSocket-Version: 13\r\n" +
        "\r\n";

    /// <summary>A masked text frame "Hello" (RFC 6455 section 5.7): what follows the headers on the wire.</summary>
    public static readonly byte[] FrameBytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    public static readonly string[] DefaultHeaders =
    [
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + SampleKey,
        "Sec-WebSocket-Version: 13",
    ];

    public static string Build(string requestLine, IEnumerable<string> headers)
    {
        var text = new StringBuilder();
        text.Append(requestLine).Append("\r\n");
        foreach (string header in headers)
        {
            text.Append(header).Append("\r\n");
        }

        return text.Append("\r\n").ToString();
    }

    /// <summary>The default valid request plus <paramref name="extraHeaders"/>.</summary>
    public static string Valid(params string[] extraHeaders) => Build(DefaultRequestLine, [.. DefaultHeaders, .. extraHeaders]);

    public static string WithRequestLine(string requestLine) => Build(requestLine, DefaultHeaders);

    /// <summary>The default request without the named header, plus <paramref name="extraHeaders"/>.</summary>
    public static string Without(string headerName, params string[] extraHeaders)
    {
        var headers = new List<string>();
        foreach (string header in DefaultHeaders)
        {
            if (!header.StartsWith(headerName + ":", StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(header);
            }
        }

        headers.AddRange(extraHeaders);
        return Build(DefaultRequestLine, headers);
    }

    /// <summary>The default request with the named header replaced, in place, by <paramref name="replacementLine"/>.</summary>
    public static string Replacing(string headerName, string replacementLine)
    {
        var headers = new List<string>();
        foreach (string header in DefaultHeaders)
        {
            headers.Add(header.StartsWith(headerName + ":", StringComparison.OrdinalIgnoreCase) ? replacementLine : header);
        }

        return Build(DefaultRequestLine, headers);
    }

    /// <summary>A valid request of exactly <paramref name="totalLength"/> bytes, padded with an X-Pad header.</summary>
    public static byte[] Padded(int totalLength)
    {
        int baseLength = Valid("X-Pad: ").Length;
        byte[] bytes = Bytes(Valid("X-Pad: " + new string('a', totalLength - baseLength)));
        Assert.Equal(totalLength, bytes.Length);
        return bytes;
    }

    /// <summary>Latin-1, so that a char in a test string stands for exactly one byte of the same value.</summary>
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static byte[] Concat(byte[] first, byte[] second) => [.. first, .. second];

    public static ParseResult Parse(string text, UpgradeParserOptions? options = null) =>
        Parse(new ReadOnlySequence<byte>(Bytes(text)), options);

    public static ParseResult Parse(byte[] bytes, UpgradeParserOptions? options = null) =>
        Parse(new ReadOnlySequence<byte>(bytes), options);

    public static ParseResult Parse(ReadOnlySequence<byte> buffer, UpgradeParserOptions? options = null)
    {
        UpgradeParseStatus status = UpgradeRequestParser.TryParse(
            buffer, options ?? new UpgradeParserOptions(), out UpgradeRequest? request, out UpgradeRejection rejection, out SequencePosition consumed);
        return new ParseResult(status, request, rejection, buffer.Slice(buffer.Start, consumed).Length, buffer.Slice(consumed).ToArray());
    }

    /// <summary>Asserts the request is the RFC 6455 section 1.2 sample.</summary>
    public static void AssertRfcSample(UpgradeRequest? request)
    {
        Assert.NotNull(request);
        Assert.Equal("GET", request.Method);
        Assert.Equal("/chat", request.Target);
        Assert.Equal("/chat", request.Path);
        Assert.Equal(string.Empty, request.Query);
        Assert.Equal("server.example.com", request.Host);
        Assert.Equal("http://example.com", request.Origin);
        Assert.Equal(SampleKey, request.Key);
        Assert.Equal(13, request.Version);
        Assert.Equal(["chat", "superchat"], request.SubProtocols);
        Assert.Null(request.Extensions);
        Assert.Null(request.Authorization);
        Assert.Null(request.ForwardedFor);
        Assert.Equal(7, request.Headers.Count);
    }
}

/// <summary>Everything TryParse reports, with <c>consumed</c> as an offset and the bytes after it.</summary>
internal readonly record struct ParseResult(
    UpgradeParseStatus Status,
    UpgradeRequest? Request,
    UpgradeRejection Rejection,
    long Consumed,
    byte[] Remaining);
