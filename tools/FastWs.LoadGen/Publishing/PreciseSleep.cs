using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// Sleeps until an absolute <see cref="Stopwatch"/> timestamp to within the scheduler's wake-up (tens of µs), where
/// <see cref="Thread.Sleep(int)"/> wakes a millisecond or more late. On Linux, <c>clock_nanosleep</c> on
/// CLOCK_MONOTONIC (the clock behind <see cref="Stopwatch.GetTimestamp"/>) with an absolute deadline; elsewhere
/// false, and the caller keeps its millisecond ticks.
/// </summary>
internal static partial class PreciseSleep
{
    private const int ClockMonotonic = 1;
    private const int TimerAbstime = 1;

    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && Stopwatch.IsHighResolution;

    /// <summary>Sleeps until <paramref name="timestamp"/> (returns at once when it has passed).</summary>
    public static void Until(long timestamp)
    {
        long ns = (long)((Int128)timestamp * 1_000_000_000 / Stopwatch.Frequency);
        TimeSpec until = new() { Seconds = ns / 1_000_000_000, Nanoseconds = ns % 1_000_000_000 };
        // EINTR (a signal) returns early: the caller's loop looks at the clock again and sleeps the rest.
        _ = clock_nanosleep(ClockMonotonic, TimerAbstime, in until, IntPtr.Zero);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc.so.6")]
    private static partial int clock_nanosleep(int clockId, int flags, in TimeSpec request, IntPtr remain);
}
