using System.Globalization;

namespace FastWs.LoadGen.Metrics;

/// <summary>
/// One reading of /proc for the server (when PIDs were given: the sums over them, alive only when all are) and for the
/// load tool itself. <see cref="PerServer"/> holds each server process's own reading, in --server-pid order.
/// </summary>
internal readonly record struct ProcSample(
    double Seconds,
    long ServerCpuTicks,
    long ServerUserTicks,
    long ServerRssKb,
    bool ServerAlive,
    long SelfCpuTicks,
    long SelfRssKb,
    ProcReading[] PerServer);

/// <summary>One process's CPU ticks (utime+stime, and utime alone) and VmRSS; <see cref="Alive"/> false when unreadable.</summary>
internal readonly record struct ProcReading(long CpuTicks, long UserTicks, long RssKb, bool Alive);

/// <summary>
/// Samples utime+stime (from /proc/PID/stat, in clock ticks of 1/100 s; utime kept apart to split user from kernel time) and VmRSS (from /proc/PID/status) of
/// the server and of this process once per second on its own thread, plus on demand at the edges of the
/// measured window. Linux only; on other systems the readings are zero.
/// </summary>
internal sealed class ProcSampler : IDisposable
{
    /// <summary>USER_HZ: sysconf(_SC_CLK_TCK), 100 on every Linux this runs on (`getconf CLK_TCK`).</summary>
    public const double ClockTicksPerSecond = 100.0;

    private readonly int[] _serverPids;
    private readonly List<ProcSample> _samples = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private long _t0;
    private Thread? _thread;
    private Action<ProcSample, ProcSample>? _onSecond;
    private ProcSample _previous;

    public ProcSampler(IReadOnlyList<int> serverPids)
    {
        _serverPids = [.. serverPids];
        _t0 = Clock.Now;
    }

    public bool HasServer => _serverPids.Length > 0;

    /// <summary>The sampled server processes (several: nodes of a cluster, Redis), in --server-pid order.</summary>
    public IReadOnlyList<int> ServerPids => _serverPids;

    /// <summary>"1234" or "1234, 1240, 1251", for messages.</summary>
    public string ServerPidText => string.Join(", ", _serverPids);

    /// <summary>Checks that every server PID exists; returns an error message otherwise.</summary>
    public string? Validate()
    {
        foreach (int pid in _serverPids)
        {
            if (!File.Exists($"/proc/{pid}/stat"))
            {
                return $"--server-pid {pid}: no such process (/proc/{pid}/stat not found)";
            }
        }

        return null;
    }

    /// <summary>Starts once-per-second sampling with second 0 at <paramref name="t0"/>; <paramref name="onSecond"/> gets (previous, current) after each sample.</summary>
    public void Start(long t0, Action<ProcSample, ProcSample>? onSecond)
    {
        _t0 = t0;
        _onSecond = onSecond;
        ProcSample first = Sample();
        _previous = first;
        lock (_lock)
        {
            _samples.Add(first);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "proc-sampler" };
        _thread.Start();
    }

    public ProcSample Sample()
    {
        double seconds = Clock.ToSeconds(Clock.Now - _t0);
        long serverCpu = 0, serverUser = 0, serverRss = 0;
        bool alive = _serverPids.Length > 0;
        var perServer = new ProcReading[_serverPids.Length];
        for (int i = 0; i < _serverPids.Length; i++)
        {
            bool ok = TryRead(_serverPids[i].ToString(CultureInfo.InvariantCulture), out long cpu, out long user, out long rss);
            perServer[i] = new ProcReading(cpu, user, rss, ok);
            serverCpu += cpu;
            serverUser += user;
            serverRss += rss;
            alive &= ok;
        }

        TryRead("self", out long selfCpu, out _, out long selfRss);
        return new ProcSample(seconds, serverCpu, serverUser, serverRss, alive, selfCpu, selfRss, perServer);
    }

    /// <summary>The once-per-second samples taken so far (the first is taken by <see cref="Start"/> at second 0).</summary>
    public IReadOnlyList<ProcSample> Samples
    {
        get
        {
            lock (_lock)
            {
                return _samples.OrderBy(s => s.Seconds).ToList();
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(2));
        _stop.Dispose();
    }

    private void Run()
    {
        int second = 1;
        while (!_stop.IsCancellationRequested)
        {
            long due = _t0 + Clock.FromSeconds(second);
            long wait = due - Clock.Now;
            if (wait > 0 && _stop.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(Clock.ToSeconds(wait))))
            {
                return;
            }

            ProcSample sample = Sample();
            lock (_lock)
            {
                _samples.Add(sample);
            }

            try
            {
                _onSecond?.Invoke(_previous, sample);
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException)
            {
                // Progress output is best effort.
            }

            _previous = sample;

            second = Math.Max(second + 1, (int)Clock.ToSeconds(Clock.Now - _t0) + 1);
        }
    }

    private static bool TryRead(string pid, out long cpuTicks, out long userTicks, out long rssKb)
    {
        cpuTicks = 0;
        userTicks = 0;
        rssKb = 0;
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
            int close = stat.LastIndexOf(')');
            string[] fields = stat[(close + 2)..].Split(' ');
            // fields[0] is field 3 (state); utime is field 14, stime field 15.
            userTicks = long.Parse(fields[11], CultureInfo.InvariantCulture);
            cpuTicks = userTicks + long.Parse(fields[12], CultureInfo.InvariantCulture);
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rssKb = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                    break;
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return false;
        }
    }
}
