using System.Diagnostics;
using FastWs.Server.FanOut;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// The write coalescer's timer on the system clock (a <c>timerfd</c> and its thread on Linux): it calls back at its
/// deadline and never before, a new arming replaces the old one in either direction, and a disposed timer is silent.
/// Correctness only; how late it is under load is measured in perf/ (perf/RESULTS.md), not here.
/// </summary>
public sealed class DeadlineTimerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task It_calls_back_at_its_deadline_and_not_before()
    {
        var fired = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using DeadlineTimer timer = DeadlineTimer.Create(TimeProvider.System, () => fired.TrySetResult(Stopwatch.GetTimestamp()));
        long due = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 50; // 20 ms

        timer.Arm(due);

        long at = await fired.Task.WaitAsync(Patience);
        Assert.True(at >= due, $"called back {(due - at) * 1e6 / Stopwatch.Frequency:F0} µs before its deadline");
    }

    [Fact]
    public async Task An_earlier_arming_replaces_a_later_one_while_the_thread_waits()
    {
        var fired = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using DeadlineTimer timer = DeadlineTimer.Create(TimeProvider.System, () => fired.TrySetResult(Stopwatch.GetTimestamp()));
        long late = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 3600;
        timer.Arm(late);
        await Task.Delay(50); // the timer thread is waiting for the hour by now

        long due = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100;
        timer.Arm(due);

        long at = await fired.Task.WaitAsync(Patience);
        Assert.True(at >= due && at < late);
    }

    [Fact]
    public async Task A_later_arming_replaces_an_earlier_one()
    {
        int calls = 0;
        var fired = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using DeadlineTimer timer = DeadlineTimer.Create(TimeProvider.System, () =>
        {
            Interlocked.Increment(ref calls);
            fired.TrySetResult(Stopwatch.GetTimestamp());
        });
        long now = Stopwatch.GetTimestamp();
        timer.Arm(now + Stopwatch.Frequency / 100);
        long due = now + Stopwatch.Frequency / 5; // 200 ms
        timer.Arm(due);

        long at = await fired.Task.WaitAsync(Patience);
        Assert.True(at >= due, "the first arming was not replaced");
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task A_deadline_already_past_fires_at_once_and_the_callback_may_arm_it_again()
    {
        int calls = 0;
        var twice = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        DeadlineTimer? timer = null;
        timer = DeadlineTimer.Create(TimeProvider.System, () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                timer!.Arm(Stopwatch.GetTimestamp() + Stopwatch.Frequency / 100);
            }
            else
            {
                twice.TrySetResult();
            }
        });
        using (timer)
        {
            timer.Arm(Stopwatch.GetTimestamp() - Stopwatch.Frequency);
            await twice.Task.WaitAsync(Patience);
        }

        Assert.Equal(2, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task A_disposed_timer_does_not_call_back_and_ignores_armings()
    {
        int calls = 0;
        DeadlineTimer timer = DeadlineTimer.Create(TimeProvider.System, () => Interlocked.Increment(ref calls));
        timer.Arm(Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10);

        timer.Dispose();
        timer.Arm(Stopwatch.GetTimestamp());
        await Task.Delay(300);

        Assert.Equal(0, Volatile.Read(ref calls));
    }
}
