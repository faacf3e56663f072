using System.Text;
using FastWs.Protocol.Handshake;
using static FastWs.Protocol.Tests.Handshake.HandshakeTestRequests;

namespace FastWs.Protocol.Tests.Handshake;

/// <summary>MaxHeaderBytes covers the request line and headers up to and including the final blank line.</summary>
public class UpgradeRequestParserLimitTests
{
    [Theory]
    [InlineData(8192)]
    [InlineData(300)]
    [InlineData(1000)]
    public void ExactlyAtLimit_Accepted(int limit)
    {
        byte[] request = Padded(limit);

        ParseResult result = Parse(request, new UpgradeParserOptions { MaxHeaderBytes = limit });

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(limit, result.Consumed);
    }

    [Theory]
    [InlineData(8192)]
    [InlineData(300)]
    [InlineData(1000)]
    public void OneByteOverLimit_Rejected431(int limit)
    {
        byte[] request = Padded(limit + 1);

        ParseResult result = Parse(request, new UpgradeParserOptions { MaxHeaderBytes = limit });

        Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
        Assert.Equal(UpgradeFailure.HeadersTooLarge, result.Rejection.Failure);
        Assert.Equal(431, result.Rejection.StatusCode);
    }

    [Fact]
    public void DefaultLimitIs8192()
    {
        Assert.Equal(8192, new UpgradeParserOptions().MaxHeaderBytes);
        Assert.Equal(UpgradeParseStatus.Complete, Parse(Padded(8192)).Status);
        Assert.Equal(UpgradeFailure.HeadersTooLarge, Parse(Padded(8193)).Rejection.Failure);
    }

    [Fact]
    public void AtLimit_FrameBytesAfterTheHeadersDoNotCount()
    {
        byte[] request = Padded(300);
        byte[] frames = new byte[5000];

        ParseResult result = Parse(Concat(request, frames), new UpgradeParserOptions { MaxHeaderBytes = 300 });

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(300, result.Consumed);
        Assert.Equal(5000, result.Remaining.Length);
    }

    [Fact]
    public void AtLimit_SplitIntoSegments_Accepted()
    {
        byte[] data = Concat(Padded(300), FrameBytes);
        var options = new UpgradeParserOptions { MaxHeaderBytes = 300 };

        for (int cut = 0; cut <= data.Length; cut++)
        {
            ParseResult result = Parse(SegmentedSequence.Split(data, cut), options);

            Assert.Equal(UpgradeParseStatus.Complete, result.Status);
            Assert.Equal(300, result.Consumed);
        }
    }

    [Fact]
    public void HugeHeaderWithNoEnd_Rejected431WithoutWaitingForTheEnd()
    {
        byte[] partial = Bytes("GET /chat HTTP/1.1\r\nHost: h\r\nX-Big: " + new string('a', 20_000));

        ParseResult result = Parse(partial);

        Assert.Equal(UpgradeParseStatus.Rejected, result.Status);
        Assert.Equal(UpgradeFailure.HeadersTooLarge, result.Rejection.Failure);
        Assert.Equal(431, result.Rejection.StatusCode);
    }

    [Fact]
    public void GrowingHeaderWithNoEnd_IncompleteBelowLimitThen431OnceTheLimitIsReached()
    {
        // With `limit` bytes in hand and no blank line yet, the block can only end beyond the limit.
        const int limit = 500;
        var options = new UpgradeParserOptions { MaxHeaderBytes = limit };
        byte[] stream = Bytes("GET /chat HTTP/1.1\r\nHost: h\r\nX-Big: " + new string('a', 2 * limit));

        Assert.Equal(UpgradeParseStatus.Incomplete, Parse(stream[..(limit - 1)], options).Status);
        ParseResult atLimit = Parse(stream[..limit], options);
        Assert.Equal(UpgradeParseStatus.Rejected, atLimit.Status);
        Assert.Equal(UpgradeFailure.HeadersTooLarge, atLimit.Rejection.Failure);
    }

    [Fact]
    public void ManyCompleteHeaderLinesButNoBlankLine_Rejected431()
    {
        var text = new StringBuilder("GET /chat HTTP/1.1\r\n");
        for (int i = 0; text.Length < 10_000; i++)
        {
            text.Append("X-Header-").Append(i).Append(": value\r\n");
        }

        ParseResult result = Parse(text.ToString());

        Assert.Equal(UpgradeFailure.HeadersTooLarge, result.Rejection.Failure);
        Assert.Equal(431, result.Rejection.StatusCode);
    }

    [Fact]
    public void BlankLineJustPastTheLimit_Rejected431EvenWhenAllBytesArrived()
    {
        // The terminating CRLF straddles the limit: the block is limit + 1 bytes long.
        byte[] request = Padded(301);

        for (int cut = 0; cut <= request.Length; cut++)
        {
            ParseResult result = Parse(SegmentedSequence.Split(request, cut), new UpgradeParserOptions { MaxHeaderBytes = 300 });

            Assert.Equal(UpgradeFailure.HeadersTooLarge, result.Rejection.Failure);
        }
    }

    [Fact]
    public void MalformedLineWithinLimit_Reported400Not431()
    {
        // A syntax error seen before the limit is the more useful answer.
        byte[] partial = Bytes("GET /chat HTTP/1.1\r\nBad Name: x\r\n" + new string('a', 20_000));

        ParseResult result = Parse(partial);

        Assert.Equal(UpgradeFailure.Malformed, result.Rejection.Failure);
        Assert.Equal(400, result.Rejection.StatusCode);
    }
}
