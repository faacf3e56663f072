using System.Diagnostics;
using System.Net.Sockets;
using FastWs.LoadGen.Metrics;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// Publishes at a fixed total rate over a set of channels (round robin) from one dedicated thread.
/// Pacing: the thread works out how many messages are due since the start (elapsed × rate), sends them as one
/// batch, and sleeps until the next is due: to that message's own time up to <see cref="PreciseRateLimit"/>
/// (so at 1,000/s one message leaves every millisecond), in ~1 ms ticks above it. A late wake-up catches up (up to
/// 10 ms worth per batch, so a stall does not turn into one huge burst), so the average rate is exact without
/// spinning a core.
/// Every message carries its send timestamp; a message counts as published in the measured window when
/// that timestamp lies in [WindowStart, WindowEnd) of the shared <see cref="ReceiveMetrics"/>.
/// </summary>
internal sealed class Publisher
{
    /// <summary>Up to this rate (messages/s) each message is sent at its own time; above it, in 1 ms batches.</summary>
    public const double PreciseRateLimit = 2_000;

    private readonly IPublishTransport _transport;
    private readonly int _channels;
    private readonly double _rate;
    private readonly ReceiveMetrics _metrics;
    private readonly ErrorCounter _errors;
    private readonly long[] _pendingInWindow;
    private Thread? _thread;
    private long _start;
    private long _end;
    private CancellationToken _ct;

    public Publisher(IPublishTransport transport, int channels, double rate, ReceiveMetrics metrics, ErrorCounter errors)
    {
        _transport = transport;
        _channels = channels;
        _rate = rate;
        _metrics = metrics;
        _errors = errors;
        PublishedInWindow = new long[channels];
        _pendingInWindow = new long[channels];
        PerSecond = new long[metrics.MaxSeconds];
    }

    /// <summary>Messages per channel whose timestamp lies in the measured window (sent successfully).</summary>
    public long[] PublishedInWindow { get; }

    public long PublishedTotal { get; private set; }

    /// <summary>Messages sent per second since t0.</summary>
    public long[] PerSecond { get; }

    /// <summary>Largest backlog seen, in milliseconds of schedule (how far sending fell behind the rate).</summary>
    public double MaxLagMs { get; private set; }

    public long FailedSends { get; private set; }

    /// <summary>Set when the publisher gave up (too many consecutive failures).</summary>
    public string? FatalError { get; private set; }

    public string Description => _transport.Describe();

    public void Start(long start, long end, CancellationToken ct)
    {
        _start = start;
        _end = end;
        _ct = ct;
        _thread = new Thread(Run) { IsBackground = true, Name = "publisher", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>Waits for the publisher thread to finish (it stops at the end time or on cancellation).</summary>
    public bool Join(TimeSpan timeout) => _thread?.Join(timeout) ?? true;

    private void Run()
    {
        long sent = 0;
        long maxBatch = Math.Max(16, (long)(_rate / 100));
        int nextChannel = 0;
        int consecutiveFailures = 0;
        double frequency = Stopwatch.Frequency;
        bool precise = PreciseSleep.IsSupported && _rate <= PreciseRateLimit;
        while (!_ct.IsCancellationRequested)
        {
            long now = Clock.Now;
            if (now >= _end)
            {
                break;
            }

            if (now >= _start)
            {
                long due = (long)((now - _start) / frequency * _rate) + 1;
                long backlog = due - sent;
                if (backlog > 0)
                {
                    double lagMs = (backlog - 1) / _rate * 1000;
                    if (lagMs > MaxLagMs && now >= _metrics.WindowStart)
                    {
                        MaxLagMs = lagMs;
                    }

                    long batch = Math.Min(backlog, maxBatch);
                    long windowStart = _metrics.WindowStart, windowEnd = _metrics.WindowEnd;
                    bool inWindow = now >= windowStart && now < windowEnd;
                    int firstChannel = nextChannel;
                    for (long i = 0; i < batch; i++)
                    {
                        _transport.Add(nextChannel, now);
                        if (inWindow)
                        {
                            _pendingInWindow[nextChannel]++;
                        }

                        nextChannel = nextChannel + 1 == _channels ? 0 : nextChannel + 1;
                    }

                    try
                    {
                        _transport.Flush();
                        consecutiveFailures = 0;
                        for (int c = 0; c < _channels; c++)
                        {
                            PublishedInWindow[c] += _pendingInWindow[c];
                        }

                        PublishedTotal += batch;
                        int second = (int)Clock.ToSeconds(now - _metrics.T0);
                        if ((uint)second < (uint)PerSecond.Length)
                        {
                            PerSecond[second] += batch;
                        }
                    }
                    catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or HttpRequestException or TaskCanceledException or InvalidOperationException)
                    {
                        FailedSends += batch;
                        _errors.Add("publish failed: " + Kind(ex), ex.Message, batch);
                        if (++consecutiveFailures >= 100 || ex is ObjectDisposedException)
                        {
                            FatalError = "publisher stopped after repeated send failures: " + ex.Message;
                            return;
                        }

                        nextChannel = firstChannel;
                    }
                    finally
                    {
                        Array.Clear(_pendingInWindow);
                    }

                    // The batch was sent at the time stamped in it; when behind, go again at once.
                    sent += batch;
                    if (batch < backlog)
                    {
                        continue;
                    }
                }
            }

            // Sleep until the next message is due. Up to 2,000 messages/s each one goes at its own time
            // (PreciseSleep, to within the scheduler's wake-up): 1,000/s is one message every millisecond, not a
            // burst of several whenever a millisecond sleep overslept. Faster, and where that is not available,
            // 1 ms ticks that send what is due as one batch. Naps at most 50 ms, so the end time and cancellation
            // are noticed promptly.
            long nextDue = _start + (long)(sent / _rate * frequency);
            double untilNextMs = (nextDue - Clock.Now) * 1000.0 / frequency;
            if (precise && untilNextMs < 50)
            {
                PreciseSleep.Until(nextDue);
            }
            else
            {
                Thread.Sleep(untilNextMs > 2 ? (int)Math.Min(50, untilNextMs - 1) : 1);
            }
        }
    }

    private static string Kind(Exception ex) => ex switch
    {
        SocketException se => "socket " + se.SocketErrorCode,
        HttpRequestException { StatusCode: { } code } => "HTTP " + (int)code,
        HttpRequestException => "HTTP error",
        TaskCanceledException => "timeout",
        _ => ex.GetType().Name,
    };
}
