using System.Buffers;
using FastWs.Protocol.Handshake;
using static FastWs.Protocol.Tests.Handshake.HandshakeTestRequests;

namespace FastWs.Protocol.Tests.Handshake;

/// <summary>The parser must give the same answer however the bytes are split into segments.</summary>
public class UpgradeRequestParserSegmentationTests
{
    private static readonly byte[] Head = Bytes(RfcSample);
    private static readonly byte[] HeadAndFrame = Concat(Head, FrameBytes);

    private static void AssertParsedWithFrameLeft(ReadOnlySequence<byte> buffer, string description)
    {
        ParseResult result = Parse(buffer);

        Assert.True(result.Status == UpgradeParseStatus.Complete, $"{description}: {result.Status} {result.Rejection}");
        Assert.Equal(Head.Length, result.Consumed);
        Assert.Equal(FrameBytes, result.Remaining);
        AssertRfcSample(result.Request);
    }

    [Fact]
    public void OneBytePerSegment_Parsed()
    {
        AssertParsedWithFrameLeft(SegmentedSequence.OneBytePerSegment(HeadAndFrame), "one byte per segment");
    }

    [Fact]
    public void TwoSegments_SplitAtEveryPosition_Parsed()
    {
        for (int cut = 0; cut <= HeadAndFrame.Length; cut++)
        {
            AssertParsedWithFrameLeft(SegmentedSequence.Split(HeadAndFrame, cut), $"cut at {cut}");
        }
    }

    [Fact]
    public void ThreeSegments_SplitAtEveryPairOfPositions_Parsed()
    {
        for (int first = 0; first <= HeadAndFrame.Length; first++)
        {
            for (int second = first; second <= HeadAndFrame.Length; second++)
            {
                AssertParsedWithFrameLeft(SegmentedSequence.Split(HeadAndFrame, first, second), $"cuts at {first}, {second}");
            }
        }
    }

    [Fact]
    public void EveryPrefix_Incomplete_Contiguous()
    {
        for (int length = 0; length < Head.Length; length++)
        {
            ParseResult result = Parse(Head[..length]);

            Assert.True(result.Status == UpgradeParseStatus.Incomplete, $"prefix of {length}: {result.Status} {result.Rejection}");
            Assert.Null(result.Request);
            Assert.Equal(UpgradeFailure.None, result.Rejection.Failure);
            Assert.Equal(0, result.Consumed);
        }
    }

    [Fact]
    public void EveryPrefix_Incomplete_OneBytePerSegment()
    {
        for (int length = 0; length < Head.Length; length++)
        {
            ParseResult result = Parse(SegmentedSequence.OneBytePerSegment(Head[..length]));

            Assert.True(result.Status == UpgradeParseStatus.Incomplete, $"prefix of {length}: {result.Status} {result.Rejection}");
            Assert.Equal(0, result.Consumed);
        }
    }

    [Fact]
    public void EveryPrefix_SplitInTwo_Incomplete()
    {
        // Covers a CR at the end of one segment and its LF at the start of the next, at every line end.
        for (int length = 0; length < Head.Length; length++)
        {
            for (int cut = 0; cut <= length; cut++)
            {
                ParseResult result = Parse(SegmentedSequence.Split(Head[..length], cut));

                Assert.True(result.Status == UpgradeParseStatus.Incomplete, $"prefix {length}, cut {cut}: {result.Status}");
            }
        }
    }

    [Fact]
    public void LongLinesAcrossSegments_ParsedAtEveryCut()
    {
        // Lines longer than the parser's stack scratch space take the pooled-buffer path when they straddle segments.
        string cookie = new('c', 1500);
        string token = "Bearer " + new string('t', 700);
        byte[] head = Bytes(Build("GET /" + new string('p', 400) + "?" + new string('q', 300) + " HTTP/1.1",
            [.. DefaultHeaders, "Cookie: " + cookie, "Authorization: " + token]));
        byte[] data = Concat(head, FrameBytes);

        for (int cut = 0; cut <= data.Length; cut += 7)
        {
            ParseResult result = Parse(SegmentedSequence.Split(data, cut, Math.Min(data.Length, cut + 300)));

            Assert.Equal(UpgradeParseStatus.Complete, result.Status);
            Assert.Equal(head.Length, result.Consumed);
            Assert.Equal(FrameBytes, result.Remaining);
            Assert.Equal(cookie, result.Request!.GetHeader("Cookie"));
            Assert.Equal(token, result.Request.Authorization);
            Assert.Equal(401, result.Request.Path.Length);
            Assert.Equal(300, result.Request.Query.Length);
        }
    }

    [Fact]
    public void LongLineAcrossSegments_OneBytePerSegment_Parsed()
    {
        string cookie = new('c', 3000);
        byte[] head = Bytes(Valid("Cookie: " + cookie));

        ParseResult result = Parse(SegmentedSequence.OneBytePerSegment(Concat(head, FrameBytes)));

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(head.Length, result.Consumed);
        Assert.Equal(cookie, result.Request!.GetHeader("cookie"));
    }

    [Fact]
    public void ConsumedPosition_PointsIntoTheCallersSequence()
    {
        // The server advances its PipeReader with `consumed`, so it must be a position of the buffer passed in.
        ReadOnlySequence<byte> buffer = SegmentedSequence.Split(HeadAndFrame, 10, Head.Length - 1, Head.Length + 3);

        UpgradeRequestParser.TryParse(buffer, new UpgradeParserOptions(), out _, out _, out SequencePosition consumed);

        Assert.Equal(FrameBytes, buffer.Slice(consumed).ToArray());
        Assert.Equal(Head, buffer.Slice(buffer.Start, consumed).ToArray());
    }

    [Fact]
    public void SlicedInputSequence_ConsumedRelativeToSlice()
    {
        // Callers may pass a sequence that does not start at the beginning of its first segment.
        byte[] data = Concat(Bytes("JUNK"), HeadAndFrame);
        ReadOnlySequence<byte> buffer = SegmentedSequence.Split(data, 2, 40).Slice(4);

        ParseResult result = Parse(buffer);

        Assert.Equal(UpgradeParseStatus.Complete, result.Status);
        Assert.Equal(Head.Length, result.Consumed);
        Assert.Equal(FrameBytes, result.Remaining);
    }
}
