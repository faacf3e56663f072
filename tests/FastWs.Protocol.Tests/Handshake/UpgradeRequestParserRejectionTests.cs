using System.Buffers;
using FastWs.Protocol.Handshake;
using static FastWs.Protocol.Tests.Handshake.HandshakeTestRequests;

namespace FastWs.Protocol.Tests.Handshake;

public class UpgradeRequestParserRejectionTests
{
    private static string KeyOfLength(int bytes)
    {
        var raw = new byte[bytes];
        for (int i = 0; i < raw.Length; i++)
        {
            raw[i] = (byte)(i * 37 + 11);
        }

        return "Sec-WebSocket-Key: " + Convert.ToBase64String(raw);
    }

    /// <summary>Case name, complete request text (Latin-1: one char per byte), expected failure, expected status.</summary>
    public static TheoryData<string, string, UpgradeFailure, int> Cases => new()
    {
        // Request line.
        { "POST", WithRequestLine("POST /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "PUT", WithRequestLine("PUT /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "HEAD", WithRequestLine("HEAD /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "lower-case get", WithRequestLine("get /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "GETX", WithRequestLine("GETX /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "GE", WithRequestLine("GE /chat HTTP/1.1"), UpgradeFailure.MethodNotGet, 400 },
        { "HTTP/1.0", WithRequestLine("GET /chat HTTP/1.0"), UpgradeFailure.UnsupportedHttpVersion, 400 },
        { "HTTP/2.0", WithRequestLine("GET /chat HTTP/2.0"), UpgradeFailure.UnsupportedHttpVersion, 400 },
        { "HTTP/1.2", WithRequestLine("GET /chat HTTP/1.2"), UpgradeFailure.UnsupportedHttpVersion, 400 },
        { "lower-case http", WithRequestLine("GET /chat http/1.1"), UpgradeFailure.Malformed, 400 },
        { "HTTP/11", WithRequestLine("GET /chat HTTP/11"), UpgradeFailure.Malformed, 400 },
        { "no version", WithRequestLine("GET /chat"), UpgradeFailure.Malformed, 400 },
        { "no target", WithRequestLine("GET"), UpgradeFailure.Malformed, 400 },
        { "empty target", WithRequestLine("GET  HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "double space", WithRequestLine("GET  /chat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "space before version twice", WithRequestLine("GET /chat  HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "trailing space", WithRequestLine("GET /chat HTTP/1.1 "), UpgradeFailure.Malformed, 400 },
        { "tab separator", WithRequestLine("GET\t/chat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "absolute-form", WithRequestLine("GET http://server.example.com/chat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "asterisk-form", WithRequestLine("GET * HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "relative target", WithRequestLine("GET chat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "fragment", WithRequestLine("GET /chat#top HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "control char in target", WithRequestLine("GET /ch\u0001at HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "DEL in target", WithRequestLine("GET /ch\u007Fat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "non-ASCII target", WithRequestLine("GET /caf\u00E9 HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "NUL in method", WithRequestLine("G\0T /chat HTTP/1.1"), UpgradeFailure.Malformed, 400 },
        { "leading empty line", "\r\n" + Valid(), UpgradeFailure.Malformed, 400 },

        // Line endings.
        { "bare LF after request line", Valid().Replace("HTTP/1.1\r\n", "HTTP/1.1\n", StringComparison.Ordinal), UpgradeFailure.Malformed, 400 },
        { "bare LF after header", Valid().Replace("Upgrade: websocket\r\n", "Upgrade: websocket\n", StringComparison.Ordinal), UpgradeFailure.Malformed, 400 },
        { "bare LF ends headers", Valid()[..^2] + "\n", UpgradeFailure.Malformed, 400 },
        { "LF only everywhere", Valid().Replace("\r\n", "\n", StringComparison.Ordinal), UpgradeFailure.Malformed, 400 },
        { "bare CR in value", Valid("X-A: a\rb"), UpgradeFailure.Malformed, 400 },
        { "bare CR as line end", Valid().Replace("Upgrade: websocket\r\n", "Upgrade: websocket\r", StringComparison.Ordinal), UpgradeFailure.Malformed, 400 },
        { "CR CR LF", Valid().Replace("Upgrade: websocket\r\n", "Upgrade: websocket\r\r\n", StringComparison.Ordinal), UpgradeFailure.Malformed, 400 },

        // Header syntax.
        { "obs-fold space", Valid("X-Long: first", " continued"), UpgradeFailure.Malformed, 400 },
        { "obs-fold tab", Valid("X-Long: first", "\tcontinued"), UpgradeFailure.Malformed, 400 },
        { "space before colon", Replacing("Host", "Host : server.example.com"), UpgradeFailure.Malformed, 400 },
        { "tab before colon", Replacing("Host", "Host\t: server.example.com"), UpgradeFailure.Malformed, 400 },
        { "empty header name", Valid(": value"), UpgradeFailure.Malformed, 400 },
        { "no colon", Valid("JustAName"), UpgradeFailure.Malformed, 400 },
        { "paren in name", Valid("X(A): 1"), UpgradeFailure.Malformed, 400 },
        { "quote in name", Valid("X\"A: 1"), UpgradeFailure.Malformed, 400 },
        { "slash in name", Valid("X/A: 1"), UpgradeFailure.Malformed, 400 },
        { "non-ASCII name", Valid("X-\u00E9: 1"), UpgradeFailure.Malformed, 400 },
        { "SOH in value", Valid("X-A: a\u0001b"), UpgradeFailure.Malformed, 400 },
        { "NUL in value", Valid("X-A: a\0b"), UpgradeFailure.Malformed, 400 },
        { "DEL in value", Valid("X-A: a\u007Fb"), UpgradeFailure.Malformed, 400 },
        { "ESC in value", Valid("X-A: \u001B[31m"), UpgradeFailure.Malformed, 400 },
        { "invalid UTF-8 in value", Valid("X-A: \u00C3("), UpgradeFailure.Malformed, 400 },
        { "truncated UTF-8 in value", Valid("X-A: \u00E2\u0098"), UpgradeFailure.Malformed, 400 },
        { "sub-protocol not a token", Valid("Sec-WebSocket-Protocol: chat, super chat"), UpgradeFailure.Malformed, 400 },
        { "sub-protocol with slash", Valid("Sec-WebSocket-Protocol: chat/1"), UpgradeFailure.Malformed, 400 },

        // Host.
        { "missing Host", Without("Host"), UpgradeFailure.MissingHost, 400 },
        { "empty Host", Replacing("Host", "Host:"), UpgradeFailure.MissingHost, 400 },
        { "whitespace Host", Replacing("Host", "Host:  \t "), UpgradeFailure.MissingHost, 400 },
        { "duplicate Host", Valid("Host: evil.example.com"), UpgradeFailure.DuplicateHeader, 400 },
        { "duplicate Host same value", Valid("host: server.example.com"), UpgradeFailure.DuplicateHeader, 400 },

        // Sec-WebSocket-Key.
        { "missing key", Without("Sec-WebSocket-Key"), UpgradeFailure.MissingKey, 400 },
        { "empty key", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key:"), UpgradeFailure.InvalidKey, 400 },
        { "key not base64", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), UpgradeFailure.InvalidKey, 400 },
        { "key url-safe base64", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: ____________________-w=="), UpgradeFailure.InvalidKey, 400 },
        { "key of 15 bytes", Replacing("Sec-WebSocket-Key", KeyOfLength(15)), UpgradeFailure.InvalidKey, 400 },
        { "key of 17 bytes", Replacing("Sec-WebSocket-Key", KeyOfLength(17)), UpgradeFailure.InvalidKey, 400 },
        { "key of 32 bytes", Replacing("Sec-WebSocket-Key", KeyOfLength(32)), UpgradeFailure.InvalidKey, 400 },
        { "key without padding", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), UpgradeFailure.InvalidKey, 400 },
        { "key with inner space", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ=="), UpgradeFailure.InvalidKey, 400 },
        { "key with trailing data", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: " + SampleKey + "AAAA"), UpgradeFailure.InvalidKey, 400 },
        { "two keys in one header", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: " + SampleKey + ", " + SampleKey), UpgradeFailure.InvalidKey, 400 },
        { "key with padding inside", Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j=Q=="), UpgradeFailure.InvalidKey, 400 },
        { "duplicate key", Valid("Sec-WebSocket-Key: " + SampleKey), UpgradeFailure.DuplicateHeader, 400 },

        // Upgrade: not a WebSocket request.
        { "missing Upgrade", Without("Upgrade"), UpgradeFailure.MissingUpgrade, 426 },
        { "Upgrade: h2c", Replacing("Upgrade", "Upgrade: h2c"), UpgradeFailure.MissingUpgrade, 426 },
        { "Upgrade: websocket2", Replacing("Upgrade", "Upgrade: websocket2"), UpgradeFailure.MissingUpgrade, 426 },
        { "Upgrade: websocket/13", Replacing("Upgrade", "Upgrade: websocket/13"), UpgradeFailure.MissingUpgrade, 426 },
        { "empty Upgrade", Replacing("Upgrade", "Upgrade:"), UpgradeFailure.MissingUpgrade, 426 },
        { "plain HTTP GET", Build("GET /index.html HTTP/1.1", ["Host: server.example.com", "Accept: text/html"]), UpgradeFailure.MissingUpgrade, 426 },

        // Connection.
        { "missing Connection", Without("Connection"), UpgradeFailure.MissingConnectionUpgrade, 400 },
        { "Connection: keep-alive", Replacing("Connection", "Connection: keep-alive"), UpgradeFailure.MissingConnectionUpgrade, 400 },
        { "Connection: upgraded", Replacing("Connection", "Connection: upgraded"), UpgradeFailure.MissingConnectionUpgrade, 400 },
        { "Connection space-separated", Replacing("Connection", "Connection: keep-alive upgrade"), UpgradeFailure.MissingConnectionUpgrade, 400 },
        { "Connection: websocket", Replacing("Connection", "Connection: websocket"), UpgradeFailure.MissingConnectionUpgrade, 400 },

        // Sec-WebSocket-Version.
        { "version 8", Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), UpgradeFailure.UnsupportedVersion, 426 },
        { "version 14", Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 14"), UpgradeFailure.UnsupportedVersion, 426 },
        { "version 013", Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 013"), UpgradeFailure.UnsupportedVersion, 426 },
        { "version list", Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), UpgradeFailure.UnsupportedVersion, 426 },
        { "version empty", Replacing("Sec-WebSocket-Version", "Sec-WebSocket-Version:"), UpgradeFailure.UnsupportedVersion, 426 },
        { "missing version", Without("Sec-WebSocket-Version"), UpgradeFailure.UnsupportedVersion, 426 },
        { "hixie-76 client", Build(DefaultRequestLine, ["Host: h", "Upgrade: WebSocket", "Connection: Upgrade", "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5", "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00"]), UpgradeFailure.UnsupportedVersion, 426 },
        { "duplicate version", Valid("Sec-WebSocket-Version: 13"), UpgradeFailure.DuplicateHeader, 400 },

        // Other singletons and bodies.
        { "duplicate Origin", Valid("Origin: https://a.example", "Origin: https://b.example"), UpgradeFailure.DuplicateHeader, 400 },
        { "duplicate Authorization", Valid("Authorization: Bearer a", "Authorization: Bearer b"), UpgradeFailure.DuplicateHeader, 400 },
        { "Content-Length: 5", Valid("Content-Length: 5"), UpgradeFailure.UnexpectedBody, 400 },
        { "Content-Length empty", Valid("Content-Length:"), UpgradeFailure.UnexpectedBody, 400 },
        { "Content-Length: -0", Valid("Content-Length: -0"), UpgradeFailure.UnexpectedBody, 400 },
        { "Transfer-Encoding", Valid("Transfer-Encoding: chunked"), UpgradeFailure.UnexpectedBody, 400 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rejected_WithFailureAndStatus(string caseName, string text, UpgradeFailure failure, int statusCode)
    {
        ParseResult result = Parse(text);

        Assert.True(result.Status == UpgradeParseStatus.Rejected, $"{caseName}: expected Rejected, got {result.Status}");
        Assert.Equal(failure, result.Rejection.Failure);
        Assert.Equal(statusCode, result.Rejection.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace(result.Rejection.Reason));
        Assert.Null(result.Request);
        Assert.Equal(0, result.Consumed);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rejected_SameResultWhenEveryByteIsItsOwnSegment(string caseName, string text, UpgradeFailure failure, int statusCode)
    {
        _ = caseName;
        byte[] bytes = Bytes(text);

        ParseResult result = Parse(SegmentedSequence.OneBytePerSegment(bytes));

        Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
        Assert.Equal(failure, result.Rejection.Failure);
        Assert.Equal(statusCode, result.Rejection.StatusCode);
    }

    /// <summary>
    /// Feeding a rejected request a byte at a time, the first answer that is not Incomplete must be the answer for
    /// the whole request: early rejection may come sooner but must never disagree.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Rejected_ArrivingByteByByte_FirstAnswerMatchesWholeRequest(string caseName, string text, UpgradeFailure failure, int statusCode)
    {
        byte[] bytes = Bytes(text);
        for (int length = 0; length <= bytes.Length; length++)
        {
            ParseResult result = Parse(bytes[..length]);
            if (result.Status == UpgradeParseStatus.Incomplete)
            {
                Assert.True(length < bytes.Length, $"{caseName}: still Incomplete with the whole request");
                continue;
            }

            Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
            Assert.Equal(failure, result.Rejection.Failure);
            Assert.Equal(statusCode, result.Rejection.StatusCode);
            return;
        }
    }

    /// <summary>Each syntax rule is diagnosed as itself, not caught by accident by a neighbouring rule.</summary>
    [Theory]
    [InlineData("GET /chat HTTP/1.1\nHost: h\r\n\r\n", "Lines must end with CRLF, not a bare LF")]
    [InlineData("GET /chat HTTP/1.1\r\nX-A: a\rb\r\n\r\n", "Bare CR is not allowed")]
    [InlineData("GET /chat HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", "Obsolete header line folding is not allowed")]
    [InlineData("GET /chat HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", "Obsolete header line folding is not allowed")]
    [InlineData("GET /chat HTTP/1.1\r\nHost : h\r\n\r\n", "Whitespace between header name and colon is not allowed")]
    [InlineData("GET /chat HTTP/1.1\r\nHost\t: h\r\n\r\n", "Whitespace between header name and colon is not allowed")]
    [InlineData("GET /chat HTTP/1.1\r\n: h\r\n\r\n", "Header name is empty")]
    [InlineData("GET /chat HTTP/1.1\r\nX[1]: h\r\n\r\n", "Header name contains an invalid character")]
    [InlineData("GET /chat HTTP/1.1\r\nHost\r\n\r\n", "Header line has no colon")]
    [InlineData("GET /chat HTTP/1.1\r\nX-A: \u0007\r\n\r\n", "Header value contains a control character")]
    [InlineData("GET /chat HTTP/1.1\r\nX-A: \u00FF\r\n\r\n", "Header value is not valid UTF-8")]
    [InlineData("GET http://h/chat HTTP/1.1\r\n\r\n", "Request target must be a path starting with '/'")]
    [InlineData("GET /c\u0001 HTTP/1.1\r\n\r\n", "Request target contains an invalid character")]
    [InlineData("GET\t/chat HTTP/1.1\r\n\r\n", "Request method contains an invalid character")]
    [InlineData("GET /chat HTTP/1.x\r\n\r\n", "HTTP version is malformed")]
    [InlineData("GET /chat\r\n\r\n", "Request line must be 'GET <path> HTTP/1.1'")]
    public void Malformed_ReasonNamesTheBrokenRule(string text, string reason)
    {
        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
        Assert.Equal(UpgradeFailure.Malformed, result.Rejection.Failure);
        Assert.Equal(400, result.Rejection.StatusCode);
        Assert.Equal(reason, result.Rejection.Reason);
    }

    [Theory]
    [InlineData("POST ", UpgradeFailure.MethodNotGet)]
    [InlineData("P", UpgradeFailure.MethodNotGet)]
    [InlineData("g", UpgradeFailure.MethodNotGet)]
    [InlineData("GET\t", UpgradeFailure.Malformed)]
    [InlineData("\0", UpgradeFailure.Malformed)]
    [InlineData(" ", UpgradeFailure.Malformed)]
    [InlineData("\n", UpgradeFailure.Malformed)]
    [InlineData("\r\r", UpgradeFailure.Malformed)]
    [InlineData("GET x", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1x", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTQ", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.0", UpgradeFailure.UnsupportedHttpVersion)]
    [InlineData("GET /chat HTTP/1.1\r", null)]
    [InlineData("GET /chat HTTP/1.1\rX", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\n ", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\nHost ", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\nHo{", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\n:", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\nHost: a\u0001", UpgradeFailure.Malformed)]
    [InlineData("GET /chat HTTP/1.1\r\nHost: a\r\n\r", null)]
    [InlineData("GET /chat HTTP/1.1\r\nHost: a\r\nHost: b\r\n", UpgradeFailure.DuplicateHeader)]
    [InlineData("GET /chat HTTP/1.1\r\nHost: \u00E9", null)]
    public void PartialRequest_RejectedAsSoonAsCertainlyBad(string prefix, UpgradeFailure? failure)
    {
        ParseResult result = Parse(prefix);

        if (failure is null)
        {
            Assert.Equal(UpgradeParseStatus.Incomplete, result.Status);
        }
        else
        {
            Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
            Assert.Equal(failure, result.Rejection.Failure);
            Assert.Equal(400, result.Rejection.StatusCode);
        }
    }

    [Fact]
    public void TlsClientHello_RejectedFromFirstBytes()
    {
        // A client speaking TLS to the plain-text port: answer at once rather than wait for a line that never comes.
        byte[] clientHello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];

        ParseResult result = Parse(clientHello);

        Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
        Assert.Equal(UpgradeFailure.Malformed, result.Rejection.Failure);
        Assert.Equal(400, result.Rejection.StatusCode);
    }

    [Fact]
    public void RandomGarbage_Rejected400WithoutWaitingForLineEnd()
    {
        for (int seed = 0; seed < 500; seed++)
        {
            var random = new Random(seed);
            var garbage = new byte[random.Next(1, 64)];
            random.NextBytes(garbage);

            // No LF anywhere, so no line ever completes: the answer must come from the partial-line check.
            for (int i = 0; i < garbage.Length; i++)
            {
                if (garbage[i] == (byte)'\n')
                {
                    garbage[i] = 0;
                }
            }

            // Skip the rare seed whose bytes happen to begin like "GET /" or a prefix of it, which may still be valid.
            if ("GET /"u8.StartsWith(garbage.AsSpan(0, Math.Min(garbage.Length, 5))))
            {
                continue;
            }

            ParseResult result = Parse(garbage);

            Assert.True(result.Status == UpgradeParseStatus.Rejected, $"seed {seed}: {result.Status}");
            Assert.Equal(400, result.Rejection.StatusCode);
        }
    }

    [Fact]
    public void Rejection_OnlyAfterLineIsComplete_ForHeaderSetChecks()
    {
        // Whether Host or Upgrade is missing is only known at the blank line; before it the request may still be fine.
        string text = Without("Host");

        Assert.Equal(UpgradeParseStatus.Incomplete, Parse(text[..^2]).Status);
        Assert.Equal(UpgradeFailure.MissingHost, Parse(text).Rejection.Failure);
    }

    [Fact]
    public void ChecksRunInFixedOrder_IndependentOfHeaderOrder()
    {
        // Missing Upgrade outranks a bad version, which outranks a bad key, wherever the headers appear.
        string a = Build(DefaultRequestLine, ["Host: h", "Connection: Upgrade", "Sec-WebSocket-Key: bad", "Sec-WebSocket-Version: 8"]);
        string b = Build(DefaultRequestLine, ["Sec-WebSocket-Version: 8", "Sec-WebSocket-Key: bad", "Connection: Upgrade", "Host: h"]);
        string c = Build(DefaultRequestLine, ["Sec-WebSocket-Key: bad", "Upgrade: websocket", "Sec-WebSocket-Version: 8", "Connection: Upgrade", "Host: h"]);

        Assert.Equal(UpgradeFailure.MissingUpgrade, Parse(a).Rejection.Failure);
        Assert.Equal(UpgradeFailure.MissingUpgrade, Parse(b).Rejection.Failure);
        Assert.Equal(UpgradeFailure.UnsupportedVersion, Parse(c).Rejection.Failure);
    }

    [Fact]
    public void Rejection_ReasonsAreShortStaticText()
    {
        ParseResult first = Parse(Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: nope"));
        ParseResult second = Parse(Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: other"));

        Assert.Equal("Sec-WebSocket-Key must be base64 of 16 bytes", first.Rejection.Reason);
        Assert.Same(first.Rejection.Reason, second.Rejection.Reason);
        Assert.Equal(first.Rejection, second.Rejection);
        Assert.Contains("HTTP/1.0", Parse(WithRequestLine("GET / HTTP/1.0")).Rejection.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultRejection_IsNone()
    {
        UpgradeRejection rejection = default;

        Assert.Equal(UpgradeFailure.None, rejection.Failure);
        Assert.Equal(0, rejection.StatusCode);
        Assert.Equal(string.Empty, rejection.Reason);
    }

    [Fact]
    public void Consumed_IsStartOnRejection_EvenWithMultipleSegments()
    {
        ReadOnlySequence<byte> buffer = SegmentedSequence.Split(Bytes(Without("Host")), 7, 30);

        UpgradeParseStatus status = UpgradeRequestParser.TryParse(buffer, new UpgradeParserOptions(), out _, out _, out SequencePosition consumed);

        Assert.Equal(UpgradeParseStatus.Rejected, status);
        Assert.Equal(buffer.Start, consumed);
    }
}
