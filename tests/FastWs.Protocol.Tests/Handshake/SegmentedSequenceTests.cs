using System.Buffers;

namespace FastWs.Protocol.Tests.Handshake;

/// <summary>The segmentation tests are only as good as the helper that builds the segments.</summary>
public class SegmentedSequenceTests
{
    private static List<byte[]> SegmentsOf(ReadOnlySequence<byte> sequence)
    {
        var segments = new List<byte[]>();
        foreach (ReadOnlyMemory<byte> memory in sequence)
        {
            segments.Add(memory.ToArray());
        }

        return segments;
    }

    [Fact]
    public void Split_CutsAtTheGivenOffsets()
    {
        byte[] data = [1, 2, 3, 4, 5];

        ReadOnlySequence<byte> sequence = SegmentedSequence.Split(data, 1, 3);

        Assert.Equal(data, sequence.ToArray());
        Assert.Equal([[1], [2, 3], [4, 5]], SegmentsOf(sequence));
    }

    [Fact]
    public void Split_RepeatedAndEndCutsMakeEmptySegments()
    {
        byte[] data = [1, 2, 3];

        ReadOnlySequence<byte> sequence = SegmentedSequence.Split(data, 0, 2, 2, 3);

        Assert.Equal(data, sequence.ToArray());
        Assert.Equal([[], [1, 2], [], [3], []], SegmentsOf(sequence));
    }

    [Fact]
    public void OneBytePerSegment_HasOneSegmentPerByte()
    {
        byte[] data = [9, 8, 7, 6];

        ReadOnlySequence<byte> sequence = SegmentedSequence.OneBytePerSegment(data);

        Assert.False(sequence.IsSingleSegment);
        Assert.Equal(4, SegmentsOf(sequence).Count);
        Assert.Equal(data, sequence.ToArray());
    }

    [Fact]
    public void Create_PositionsAreConsistent()
    {
        ReadOnlySequence<byte> sequence = SegmentedSequence.Create([1, 2], [3], [4, 5, 6]);

        Assert.Equal(6, sequence.Length);
        Assert.Equal(new byte[] { 3, 4 }, sequence.Slice(2, 2).ToArray());
        Assert.Equal(4, sequence.GetOffset(sequence.GetPosition(4)));
    }

    [Fact]
    public void Split_DescendingCuts_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SegmentedSequence.Split([1, 2, 3], 2, 1));
    }
}
