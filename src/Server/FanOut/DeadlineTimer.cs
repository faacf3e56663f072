using System.Diagnostics;
using System.Runtime.InteropServices;
using FastWs.Server.Transport;

namespace FastWs.Server.FanOut;

/// <summary>
/// One re-armable timer that calls back at a <see cref="TimeProvider"/> timestamp: the write coalescer's only timer.
/// </summary>
/// <remarks>
/// <para>
/// A held write's deadline is a promise about latency (a namespace's <c>WriteDelay</c>), so the timer that keeps it
/// when messages stop coming must be on time. .NET's timers are not: they wait in whole milliseconds on the timer
/// thread and then run the callback on a thread-pool thread, a millisecond or more late on a busy core, which on a
/// 2 ms delay is half the delay again. On Linux with the system clock the timer is therefore a <c>timerfd</c> armed
/// for the absolute deadline in nanoseconds, read by one thread of its own that runs the callback itself
/// (<see cref="TimerFd"/>): late by the scheduler's wake-up only. The thread starts with the first arming, so a
/// server without any write delay never has it.
/// </para>
/// <para>
/// Elsewhere (another OS, or a test's fake clock) it is an <see cref="ITimer"/> from the <see cref="TimeProvider"/>.
/// </para>
/// </remarks>
internal abstract class DeadlineTimer : IDisposable
{
    public static DeadlineTimer Create(TimeProvider time, Action callback) =>
        ReferenceEquals(time, TimeProvider.System) && OperatingSystem.IsLinux() && Stopwatch.IsHighResolution
            ? new TimerFd(callback)
            : new ProviderTimer(time, callback);

    /// <summary>Calls back once at <paramref name="due"/> (a timestamp of the timer's clock), replacing any earlier arming.</summary>
    public abstract void Arm(long due);

    /// <summary>Cancels the arming, if any: nothing is owed a call back (a wake-up for nothing costs more than this).</summary>
    public abstract void Disarm();

    public abstract void Dispose();

    /// <summary>A <c>timerfd</c> on CLOCK_MONOTONIC (the clock behind <see cref="Stopwatch.GetTimestamp"/> on Linux) and its thread.</summary>
    private sealed unsafe class TimerFd(Action callback) : DeadlineTimer
    {
        private readonly Lock _lock = new();
        private int _fd = -1;
        private bool _disposed;

        public override void Arm(long due)
        {
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                if (_fd < 0)
                {
                    Start();
                }

                // An absolute deadline: re-arming from any thread (a new earliest entry) takes effect while the timer
                // thread waits, and one already past fires at once.
                long ns = (long)((Int128)due * 1_000_000_000 / Stopwatch.Frequency);
                Set(Math.Max(ns, 1));
            }
        }

        public override void Disarm()
        {
            lock (_lock)
            {
                if (!_disposed && _fd >= 0)
                {
                    Set(0); // it_value 0 disarms
                }
            }
        }

        public override void Dispose()
        {
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                if (_fd >= 0)
                {
                    Set(1); // wakes the thread, which sees the flag, closes the descriptor and ends
                }
            }
        }

        private void Start()
        {
            int fd = Libc.timerfd_create(Libc.CLOCK_MONOTONIC, Libc.TFD_CLOEXEC);
            if (fd < 0)
            {
                throw new InvalidOperationException($"timerfd_create failed: errno {Marshal.GetLastPInvokeError()}");
            }

            _fd = fd;
            new Thread(Run) { IsBackground = true, Name = "fastws-coalescer" }.Start();
        }

        private void Set(long absoluteNs)
        {
            Libc.ITimerSpec spec = default;
            spec.ValueSeconds = absoluteNs / 1_000_000_000;
            spec.ValueNanoseconds = absoluteNs % 1_000_000_000;
            if (Libc.timerfd_settime(_fd, Libc.TFD_TIMER_ABSTIME, &spec, null) != 0)
            {
                throw new InvalidOperationException($"timerfd_settime failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }

        private void Run()
        {
            ulong expirations;
            while (true)
            {
                nint read = Libc.read(_fd, (byte*)&expirations, sizeof(ulong));
                if (read < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR)
                {
                    continue;
                }

                lock (_lock)
                {
                    if (_disposed || read < 0)
                    {
                        Libc.close(_fd);
                        return;
                    }
                }

#pragma warning disable CA1031 // The coalescer's callback handles its own failures; this thread must outlive any.
                try
                {
                    callback();
                }
                catch (Exception)
                {
                }
#pragma warning restore CA1031
            }
        }
    }

    /// <summary>The <see cref="TimeProvider"/>'s timer (millisecond resolution on the system clock; exact on a fake one).</summary>
    private sealed class ProviderTimer : DeadlineTimer
    {
        private readonly TimeProvider _time;
        private readonly ITimer _timer;

        public ProviderTimer(TimeProvider time, Action callback)
        {
            _time = time;
            _timer = time.CreateTimer(static state => ((Action)state!)(), callback, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        public override void Arm(long due)
        {
            long wait = Math.Max(0, due - _time.GetTimestamp());
            _timer.Change(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), Timeout.InfiniteTimeSpan);
        }

        public override void Disarm() => _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        public override void Dispose() => _timer.Dispose();
    }
}
