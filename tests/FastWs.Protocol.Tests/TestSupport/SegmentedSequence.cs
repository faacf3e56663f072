using System.Buffers;

namespace FastWs.Protocol.Tests;

/// <summary>
/// Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, the way bytes arrive from a pipe, so parsers are tested on
/// data that straddles segment boundaries.
/// </summary>
public static class SegmentedSequence
{
    /// <summary>One segment per array, in order; empty arrays become empty segments.</summary>
    public static ReadOnlySequence<byte> Create(params byte[][] segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        if (segments.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (segments.Length == 1)
        {
            return new ReadOnlySequence<byte>(segments[0]);
        }

        var first = new Segment(segments[0], 0);
        Segment last = first;
        for (int i = 1; i < segments.Length; i++)
        {
            last = last.Append(segments[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>
    /// Splits <paramref name="data"/> at the given offsets (ascending, 0..data.Length; repeats and the ends yield
    /// empty segments, which real pipes can also produce).
    /// </summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cutPoints)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(cutPoints);
        var segments = new byte[cutPoints.Length + 1][];
        int start = 0;
        for (int i = 0; i < cutPoints.Length; i++)
        {
            int cut = cutPoints[i];
            if (cut < start || cut > data.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(cutPoints), "Cut points must be ascending and within the data.");
            }

            segments[i] = data[start..cut];
            start = cut;
        }

        segments[^1] = data[start..];
        return Create(segments);
    }

    /// <summary>Every byte in its own segment: the worst case for code that assumes contiguous data.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var segments = new byte[data.Length][];
        for (int i = 0; i < data.Length; i++)
        {
            segments[i] = [data[i]];
        }

        return Create(segments);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
