using System.Diagnostics;

namespace FastWs.LoadGen.Metrics;

/// <summary>Stopwatch ticks (the tool's timestamps; publisher and receivers share a process) and conversions.</summary>
internal static class Clock
{
    public static readonly double NanosPerTick = 1e9 / Stopwatch.Frequency;

    public static long Now => Stopwatch.GetTimestamp();

    public static long FromSeconds(double seconds) => (long)(seconds * Stopwatch.Frequency);

    public static double ToSeconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    public static long ToNanos(long ticks) => (long)(ticks * NanosPerTick);

    public static double NanosToMs(double nanos) => nanos / 1e6;
}
