using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastWs.Server.Metrics;

/// <summary>
/// A counter that many threads add to at once without fighting over one cache line: each processor adds to its
/// own padded cell and readers sum the cells. Used for counters every connection's read loop bumps.
/// </summary>
public sealed class StripedCounter
{
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCell
    {
        [FieldOffset(64)]
        public long Value;
    }

    private readonly PaddedCell[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        int cells = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _cells = new PaddedCell[cells];
        _mask = cells - 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long value) => Interlocked.Add(ref _cells[Thread.GetCurrentProcessorId() & _mask].Value, value);

    public void Increment() => Add(1);

    public long Value
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _cells.Length; i++)
            {
                sum += Volatile.Read(ref _cells[i].Value);
            }

            return sum;
        }
    }
}
