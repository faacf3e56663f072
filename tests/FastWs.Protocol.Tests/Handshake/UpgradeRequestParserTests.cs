using System.Buffers;
using System.Text;
using FastWs.Protocol.Handshake;
using static FastWs.Protocol.Tests.Handshake.HandshakeTestRequests;

namespace FastWs.Protocol.Tests.Handshake;

public class UpgradeRequestParserTests
{
    [Fact]
    public void RfcSample_ParsedWhole_AllFieldsAndConsumedEverything()
    {
        byte[] bytes = Bytes(RfcSample);

        ParseResult result = Parse(bytes);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(UpgradeFailure.None, result.Rejection.Failure);
        Assert.Equal(0, result.Rejection.StatusCode);
        Assert.Equal(bytes.Length, result.Consumed);
        AssertRfcSample(result.Request);
    }

    [Fact]
    public void Complete_LeavesTrailingFrameBytesUnconsumed()
    {
        byte[] head = Bytes(RfcSample);

        ParseResult result = Parse(Concat(head, FrameBytes));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(head.Length, result.Consumed);
        Assert.Equal(FrameBytes, result.Remaining);
    }

    [Fact]
    public void Complete_TrailingBytesThatLookLikeHeadersAreNotParsed()
    {
        // A second request pipelined after the upgrade is frame data to us, not more headers.
        string first = Valid();
        string second = "GET /other HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";

        ParseResult result = Parse(first + second);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(first.Length, result.Consumed);
        Assert.Equal("/chat", result.Request!.Path);
    }

    [Fact]
    public void MinimalRequest_OptionalFieldsAreNullOrEmpty()
    {
        ParseResult result = Parse(Valid());

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        UpgradeRequest request = result.Request!;
        Assert.Null(request.Origin);
        Assert.Null(request.Extensions);
        Assert.Null(request.Authorization);
        Assert.Null(request.ForwardedFor);
        Assert.Empty(request.SubProtocols);
        Assert.Null(request.GetHeader("Cookie"));
        Assert.Equal(5, request.Headers.Count);
    }

    [Theory]
    [InlineData("/chat?room=1&user=%20x", "/chat", "room=1&user=%20x")]
    [InlineData("/chat?", "/chat", "")]
    [InlineData("/", "/", "")]
    [InlineData("/a/b/c", "/a/b/c", "")]
    [InlineData("/a?b?c=d", "/a", "b?c=d")]
    [InlineData("/?x", "/", "x")]
    [InlineData("//double", "//double", "")]
    public void Target_SplitIntoPathAndQuery(string target, string path, string query)
    {
        ParseResult result = Parse(WithRequestLine($"GET {target} HTTP/1.1"));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(target, result.Request!.Target);
        Assert.Equal(path, result.Request.Path);
        Assert.Equal(query, result.Request.Query);
    }

    [Fact]
    public void HeaderNames_AreCaseInsensitive()
    {
        string text = Build(DefaultRequestLine,
        [
            "HOST: server.example.com",
            "upgrade: websocket",
            "CoNnEcTiOn: Upgrade",
            "sec-websocket-key: " + SampleKey,
            "SEC-WEBSOCKET-VERSION: 13",
            "sec-websocket-protocol: chat",
            "ORIGIN: http://example.com",
            "authorization: Basic Zm9vOmJhcg==",
            "x-FORWARDED-for: 10.0.0.1",
            "SEC-WEBSOCKET-EXTENSIONS: permessage-deflate",
        ]);

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        UpgradeRequest request = result.Request!;
        Assert.Equal("server.example.com", request.Host);
        Assert.Equal(SampleKey, request.Key);
        Assert.Equal(["chat"], request.SubProtocols);
        Assert.Equal("http://example.com", request.Origin);
        Assert.Equal("Basic Zm9vOmJhcg==", request.Authorization);
        Assert.Equal("10.0.0.1", request.ForwardedFor);
        Assert.Equal("permessage-deflate", request.Extensions);
    }

    [Theory]
    [InlineData("Upgrade: WebSocket", "Connection: Upgrade")]
    [InlineData("Upgrade: WEBSOCKET", "Connection: upgrade")]
    [InlineData("Upgrade: h2c, websocket", "Connection: UPGRADE")]
    [InlineData("Upgrade: websocket", "Connection: keep-alive, Upgrade")]
    [InlineData("Upgrade: websocket", "Connection: Upgrade,keep-alive")]
    [InlineData("Upgrade: websocket", "Connection: keep-alive ,\tupgrade\t, close")]
    [InlineData("Upgrade: websocket", "Connection: ,,Upgrade,,")]
    public void UpgradeAndConnectionTokens_AreCaseInsensitiveListElements(string upgrade, string connection)
    {
        string text = Build(DefaultRequestLine,
            ["Host: h", upgrade, connection, "Sec-WebSocket-Key: " + SampleKey, "Sec-WebSocket-Version: 13"]);

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
    }

    [Fact]
    public void ConnectionToken_MayComeFromAnyOfSeveralConnectionHeaders()
    {
        string text = Without("Connection", "Connection: keep-alive", "Connection: Upgrade");

        Assert.Equal(UpgradeParseStatus.Complete, Parse(text).Status);
    }

    [Fact]
    public void UpgradeToken_MayComeFromAnyOfSeveralUpgradeHeaders()
    {
        string text = Without("Upgrade", "Upgrade: h2c", "Upgrade: websocket");

        Assert.Equal(UpgradeParseStatus.Complete, Parse(text).Status);
    }

    [Fact]
    public void SubProtocols_CollectedFromAllHeadersCommaSplitAndTrimmed()
    {
        string text = Valid(
            "Sec-WebSocket-Protocol: chat, superchat",
            "X-Between: 1",
            "Sec-WebSocket-Protocol:\tv2.json ,, mqtt,",
            "sec-websocket-protocol: graphql-ws");

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(["chat", "superchat", "v2.json", "mqtt", "graphql-ws"], result.Request!.SubProtocols);
    }

    [Fact]
    public void SubProtocols_EmptyHeaderGivesNoTokens()
    {
        ParseResult result = Parse(Valid("Sec-WebSocket-Protocol: "));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Empty(result.Request!.SubProtocols);
    }

    [Fact]
    public void ForwardedForAndExtensions_RepeatedHeadersJoined()
    {
        string text = Valid(
            "X-Forwarded-For: 203.0.113.7",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            "X-Forwarded-For: 198.51.100.1, 10.0.0.2",
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame");

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal("203.0.113.7, 198.51.100.1, 10.0.0.2", result.Request!.ForwardedFor);
        Assert.Equal("permessage-deflate; client_max_window_bits, x-webkit-deflate-frame", result.Request.Extensions);
    }

    [Fact]
    public void AuthorizationAndOrigin_Exposed()
    {
        ParseResult result = Parse(Valid("Authorization: Bearer eyJhbGciOi.J9.x-y_z", "Origin: https://app.example.com:8443"));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal("Bearer eyJhbGciOi.J9.x-y_z", result.Request!.Authorization);
        Assert.Equal("https://app.example.com:8443", result.Request.Origin);
    }

    [Fact]
    public void Values_TrimmedOfSpacesAndTabsButInnerWhitespaceKept()
    {
        string text = Build(DefaultRequestLine,
        [
            "Host: \t server.example.com:8080 \t",
            "Upgrade:websocket",
            "Connection:   Upgrade   ",
            "Sec-WebSocket-Key:\t" + SampleKey + "\t ",
            "Sec-WebSocket-Version:  13  ",
            "Cookie:  a=1;  b=2 ",
        ]);

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal("server.example.com:8080", result.Request!.Host);
        Assert.Equal(SampleKey, result.Request.Key);
        Assert.Equal("a=1;  b=2", result.Request.GetHeader("cookie"));
    }

    [Fact]
    public void GetHeader_AnyHeaderCaseInsensitiveRepeatedJoinedMissingNull()
    {
        string text = Valid("Cookie: session=abc; theme=dark", "X-Custom: one", "User-Agent: test/1.0", "x-custom: two", "X-Empty:");

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        UpgradeRequest request = result.Request!;
        Assert.Equal("session=abc; theme=dark", request.GetHeader("cookie"));
        Assert.Equal("session=abc; theme=dark", request.GetHeader("COOKIE"));
        Assert.Equal("one, two", request.GetHeader("X-CUSTOM"));
        Assert.Equal("test/1.0", request.GetHeader("user-agent"));
        Assert.Equal(string.Empty, request.GetHeader("X-Empty"));
        Assert.Equal("server.example.com", request.GetHeader("host"));
        Assert.Equal("13", request.GetHeader("sec-websocket-version"));
        Assert.Null(request.GetHeader("X-Missing"));
        Assert.Null(request.GetHeader("X-Custo"));
    }

    [Fact]
    public void Headers_InArrivalOrderWithCanonicalNamesForKnownOnes()
    {
        string text = Build(DefaultRequestLine,
            ["host: h", "x-Trace: 7", "UPGRADE: websocket", "connection: upgrade", "sec-websocket-key: " + SampleKey, "sec-websocket-version: 13"]);

        ParseResult result = Parse(text);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(
            [
                new("Host", "h"),
                new("x-Trace", "7"),
                new("Upgrade", "websocket"),
                new("Connection", "upgrade"),
                new("Sec-WebSocket-Key", SampleKey),
                new KeyValuePair<string, string>("Sec-WebSocket-Version", "13"),
            ],
            result.Request!.Headers);
    }

    [Fact]
    public void HeaderValue_Utf8Decoded()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(Valid("X-Name: café ☃ 𝄞"));

        ParseResult result = Parse(bytes);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal("café ☃ 𝄞", result.Request!.GetHeader("X-Name"));
    }

    [Theory]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA==")]
    [InlineData("/////////////////////w==")]
    [InlineData("+/+/+/+/+/+/+/+/+/+/+w==")]
    [InlineData("x3JJHMbDL1EzLkh9GBhXDw==")]
    public void Key_AnyBase64Of16BytesAccepted(string key)
    {
        Assert.Equal(16, Convert.FromBase64String(key).Length);

        ParseResult result = Parse(Replacing("Sec-WebSocket-Key", "Sec-WebSocket-Key: " + key));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(key, result.Request!.Key);
    }

    [Theory]
    [InlineData("Content-Length: 0")]
    [InlineData("Content-Length: 000")]
    public void ZeroContentLength_Accepted(string header)
    {
        Assert.Equal(UpgradeParseStatus.Complete, Parse(Valid(header)).Status);
    }

    [Fact]
    public void ObsTextAllowedInCustomValues_AsUtf8()
    {
        // 0x80-0xFF are legal field-value bytes (obs-text); the only requirement we add is that they form UTF-8.
        byte[] bytes = Bytes(Valid("X-Bytes: \u00C3\u00A9"));

        ParseResult result = Parse(bytes);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal("é", result.Request!.GetHeader("x-bytes"));
    }

    [Fact]
    public void Options_Null_Throws()
    {
        var buffer = new ReadOnlySequence<byte>(Bytes(Valid()));

        Assert.Throws<ArgumentNullException>(() =>
            UpgradeRequestParser.TryParse(buffer, null!, out _, out _, out _));
    }

    [Fact]
    public void Options_AbsurdlySmallLimit_Throws()
    {
        var options = new UpgradeParserOptions();

        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxHeaderBytes = 0);
        Assert.Equal(8192, options.MaxHeaderBytes);
    }

    [Fact]
    public void IncompleteAndRejectedCalls_AllocateNothing()
    {
        // A request trickling in is re-parsed on every packet, and garbage should cost us nothing: only a valid
        // request may allocate. The long cookie split across segments exercises the pooled copy path too.
        byte[] full = Bytes(Valid("Cookie: " + new string('c', 1000)));
        ReadOnlySequence<byte> incomplete = SegmentedSequence.Split(full[..^3], 100, 700);
        ReadOnlySequence<byte> rejected = SegmentedSequence.Split(Bytes(Without("Host", "Cookie: " + new string('c', 1000))), 100, 700);
        var options = new UpgradeParserOptions();

        // Asserting inside the measured loop would count the assertion library's own allocations.
        int Run()
        {
            int wrong = 0;
            for (int i = 0; i < 50; i++)
            {
                wrong += UpgradeRequestParser.TryParse(incomplete, options, out _, out _, out _) == UpgradeParseStatus.Incomplete ? 0 : 1;
                wrong += UpgradeRequestParser.TryParse(rejected, options, out _, out _, out _) == UpgradeParseStatus.Rejected ? 0 : 1;
            }

            return wrong;
        }

        Assert.Equal(0, Run());
        long before = GC.GetAllocatedBytesForCurrentThread();
        int wrongResults = Run();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, wrongResults);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void EmptyBuffer_Incomplete()
    {
        ParseResult result = Parse(ReadOnlySequence<byte>.Empty);

        Assert.Equal(UpgradeParseStatus.Incomplete, result.Status);
        Assert.Null(result.Request);
        Assert.Equal(0, result.Consumed);
    }
}
