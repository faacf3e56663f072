using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FastWs.Protocol.Handshake;
using static FastWs.Protocol.Tests.Handshake.HandshakeTestRequests;

namespace FastWs.Protocol.Tests.Handshake;

public class HandshakeResponseTests
{
    private static string Written(Action<IBufferWriter<byte>> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static string ReferenceAccept(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    /// <summary>Splits a response into status line, header map and body, checking the framing on the way.</summary>
    private static (string StatusLine, Dictionary<string, string> Headers, byte[] Body) ParseResponse(byte[] response)
    {
        int end = response.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end > 0, "response has no blank line");
        string[] lines = Encoding.ASCII.GetString(response, 0, end).Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines[1..])
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(line[..colon], line[(colon + 1)..].Trim());
        }

        return (lines[0], headers, response[(end + 4)..]);
    }

    [Fact]
    public void AcceptKey_Rfc6455Example()
    {
        Assert.Equal(SampleAccept, HandshakeResponse.ComputeAcceptKey(SampleKey));
    }

    [Fact]
    public void AcceptKey_SpanOverload_WritesExactly28Utf8Bytes()
    {
        var destination = new byte[40];
        destination.AsSpan().Fill(0xEE);

        int written = HandshakeResponse.ComputeAcceptKey(SampleKey.AsSpan(), destination);

        Assert.Equal(28, written);
        Assert.Equal(HandshakeResponse.AcceptKeyLength, written);
        Assert.Equal(SampleAccept, Encoding.ASCII.GetString(destination, 0, 28));
        Assert.All(destination[28..], b => Assert.Equal(0xEE, b));
    }

    [Fact]
    public void AcceptKey_DestinationTooSmall_Throws()
    {
        var destination = new byte[27];

        Assert.Throws<ArgumentException>(() => HandshakeResponse.ComputeAcceptKey(SampleKey.AsSpan(), destination));
    }

    [Fact]
    public void AcceptKey_NonAsciiKey_Throws()
    {
        var destination = new byte[28];

        Assert.Throws<ArgumentException>(() => HandshakeResponse.ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ=é".AsSpan(), destination));
    }

    [Theory]
    [InlineData("x3JJHMbDL1EzLkh9GBhXDw==")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA==")]
    [InlineData("")]
    [InlineData("a")]
    public void AcceptKey_MatchesReferenceImplementation(string key)
    {
        Assert.Equal(ReferenceAccept(key), HandshakeResponse.ComputeAcceptKey(key));
    }

    [Fact]
    public void AcceptKey_LongKeyBeyondStackBuffer_MatchesReference()
    {
        string key = new('k', 1000);

        Assert.Equal(ReferenceAccept(key), HandshakeResponse.ComputeAcceptKey(key));
    }

    [Fact]
    public void WriteAccept_ExactBytes()
    {
        string response = Written(o => HandshakeResponse.WriteAccept(o, SampleKey));

        Assert.Equal(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "\r\n",
            response);
    }

    [Fact]
    public void WriteAccept_WithSubProtocol_ExactBytes()
    {
        string response = Written(o => HandshakeResponse.WriteAccept(o, SampleKey, "chat"));

        Assert.Equal(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "Sec-WebSocket-Protocol: chat\r\n" +
            "\r\n",
            response);
    }

    [Fact]
    public void WriteAccept_WithExtensions_ExactBytes()
    {
        string response = Written(o => HandshakeResponse.WriteAccept(o, SampleKey, "chat", "permessage-deflate; server_no_context_takeover"));

        Assert.Equal(
            "HTTP/1.1 101 Switching Protocols\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
            "Sec-WebSocket-Protocol: chat\r\n" +
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n" +
            "\r\n",
            response);
    }

    [Theory]
    [InlineData("")]
    [InlineData("permessage-deflate\r\nSet-Cookie: x=1")]
    [InlineData("caf\u00E9")]
    [InlineData("a\u0000b")]
    public void WriteAccept_ExtensionsNotAHeaderValue_ThrowsAndWritesNothing(string extensions)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => HandshakeResponse.WriteAccept(output, SampleKey, null, extensions));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData("")]
    [InlineData("chat\r\nSet-Cookie: x=1")]
    [InlineData("two words")]
    [InlineData("a,b")]
    [InlineData("caf\u00E9")]
    public void WriteAccept_SubProtocolNotAToken_ThrowsAndWritesNothing(string subProtocol)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => HandshakeResponse.WriteAccept(output, SampleKey, subProtocol));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void WriteAccept_AppendsAfterExistingOutput()
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write("prefix|"u8);

        HandshakeResponse.WriteAccept(output, SampleKey);
        HandshakeResponse.WriteAccept(output, SampleKey, "v1");

        string text = Encoding.ASCII.GetString(output.WrittenSpan);
        Assert.StartsWith("prefix|HTTP/1.1 101 ", text, StringComparison.Ordinal);
        Assert.Equal(2, text.Split("HTTP/1.1 101 Switching Protocols\r\n").Length - 1);
        Assert.EndsWith("Sec-WebSocket-Protocol: v1\r\n\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ParsedRequest_AcceptedWithOfferedSubProtocol()
    {
        ParseResult parsed = Parse(RfcSample);
        UpgradeRequest request = parsed.Request!;

        string response = Written(o => HandshakeResponse.WriteAccept(o, request.Key, request.SubProtocols[0]));

        Assert.Contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nSec-WebSocket-Protocol: chat\r\n", response, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteError_400_ExactBytes()
    {
        string response = Written(o => HandshakeResponse.WriteError(o, 400, "Bad thing"));

        Assert.Equal(
            "HTTP/1.1 400 Bad Request\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Length: 10\r\n" +
            "Connection: close\r\n" +
            "\r\n" +
            "Bad thing\n",
            response);
    }

    [Fact]
    public void WriteRejection_426_ExactBytesWithVersionHeader()
    {
        UpgradeRejection rejection = Parse(Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")).Rejection;

        string response = Written(o => HandshakeResponse.WriteRejection(o, rejection));

        Assert.Equal(
            "HTTP/1.1 426 Upgrade Required\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Length: 33\r\n" +
            "Connection: close\r\n" +
            "Upgrade: websocket\r\n" +
            "Sec-WebSocket-Version: 13\r\n" +
            "\r\n" +
            "Sec-WebSocket-Version must be 13\n",
            response);
    }

    [Fact]
    public void WriteRejection_431_StatusLine()
    {
        UpgradeRejection rejection = Parse(Padded(9000)).Rejection;

        string response = Written(o => HandshakeResponse.WriteRejection(o, rejection));

        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", response, StringComparison.Ordinal);
        Assert.DoesNotContain("Sec-WebSocket-Version", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400, "Bad Request")]
    [InlineData(403, "Forbidden")]
    [InlineData(404, "Not Found")]
    [InlineData(405, "Method Not Allowed")]
    [InlineData(426, "Upgrade Required")]
    [InlineData(429, "Too Many Requests")]
    [InlineData(431, "Request Header Fields Too Large")]
    [InlineData(500, "Internal Server Error")]
    [InlineData(503, "Service Unavailable")]
    [InlineData(418, "Error")]
    [InlineData(502, "Error")]
    [InlineData(999, "Error")]
    public void WriteError_StandardReasonPhrase(int statusCode, string phrase)
    {
        string response = Written(o => HandshakeResponse.WriteError(o, statusCode, "x"));

        Assert.StartsWith($"HTTP/1.1 {statusCode} {phrase}\r\n", response, StringComparison.Ordinal);
        Assert.Equal(phrase, HandshakeResponse.GetReasonPhrase(statusCode));
    }

    [Theory]
    [InlineData(400, "")]
    [InlineData(403, "Origin not allowed")]
    [InlineData(503, "Server is shutting down, try again later")]
    [InlineData(429, "Trop de requêtes — réessayez ☃")]
    public void WriteError_ContentLengthMatchesUtf8Body(int statusCode, string reason)
    {
        var output = new ArrayBufferWriter<byte>();

        HandshakeResponse.WriteError(output, statusCode, reason);

        var (statusLine, headers, body) = ParseResponse(output.WrittenSpan.ToArray());
        Assert.StartsWith("HTTP/1.1 " + statusCode.ToString(CultureInfo.InvariantCulture) + " ", statusLine, StringComparison.Ordinal);
        Assert.Equal(body.Length, int.Parse(headers["Content-Length"], CultureInfo.InvariantCulture));
        Assert.Equal(reason + "\n", Encoding.UTF8.GetString(body));
        Assert.Equal("text/plain; charset=utf-8", headers["Content-Type"]);
        Assert.Equal("close", headers["Connection"]);
        Assert.False(headers.ContainsKey("Sec-WebSocket-Version"));
    }

    [Fact]
    public void WriteRejection_EveryParserRejectionIsAWellFormedResponse()
    {
        foreach (var row in UpgradeRequestParserRejectionTests.Cases)
        {
            string text = row.Data.Item2;
            UpgradeRejection rejection = Parse(text).Rejection;
            var output = new ArrayBufferWriter<byte>();

            HandshakeResponse.WriteRejection(output, rejection);

            var (statusLine, headers, body) = ParseResponse(output.WrittenSpan.ToArray());
            Assert.StartsWith("HTTP/1.1 " + rejection.StatusCode.ToString(CultureInfo.InvariantCulture) + " ", statusLine, StringComparison.Ordinal);
            Assert.DoesNotContain("Error", statusLine, StringComparison.Ordinal);
            Assert.Equal(body.Length, int.Parse(headers["Content-Length"], CultureInfo.InvariantCulture));
            Assert.Equal(rejection.Reason + "\n", Encoding.UTF8.GetString(body));
            Assert.Equal(rejection.StatusCode == 426, headers.TryGetValue("Sec-WebSocket-Version", out string? version) && version == "13");
            Assert.Equal(rejection.StatusCode == 426, headers.TryGetValue("Upgrade", out string? upgrade) && upgrade == "websocket");
        }
    }

    [Theory]
    [InlineData(99)]
    [InlineData(1000)]
    [InlineData(-1)]
    public void WriteError_StatusNotThreeDigits_Throws(int statusCode)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentOutOfRangeException>(() => HandshakeResponse.WriteError(output, statusCode, "x"));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void WriteError_AppendsAfterExistingOutput()
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write("prefix|"u8);

        HandshakeResponse.WriteError(output, 404, "nope");

        Assert.Equal(
            "prefix|HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n",
            Encoding.ASCII.GetString(output.WrittenSpan));
    }
}
