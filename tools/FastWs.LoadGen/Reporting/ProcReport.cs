using FastWs.LoadGen.Metrics;

namespace FastWs.LoadGen.Reporting;

/// <summary>Turns /proc samples into the server and load-tool CPU and memory metrics of a report.</summary>
internal static class ProcReport
{
    /// <summary>Average load-tool CPU, as a share of the cores it may use, above which it may have been the bottleneck.</summary>
    private const double SaturationShare = 0.85;

    /// <summary>
    /// Adds CPU and RSS metrics for the interval between two samples, and per-second CPU/RSS series.
    /// <paramref name="delivered"/> (messages delivered in that interval) gives CPU per 1,000 messages.
    /// </summary>
    public static void Add(RunReport report, ProcSampler sampler, ProcSample start, ProcSample end, double? delivered, string what = "measured window")
    {
        double seconds = Math.Max(1e-3, end.Seconds - start.Seconds);
        IReadOnlyList<ProcSample> samples = sampler.Samples;

        if (sampler.HasServer)
        {
            if (!start.ServerAlive || !end.ServerAlive)
            {
                report.Warnings.Add($"server process {sampler.ServerPidText} could not be read at the start or end of the {what} (did it exit?)");
            }

            double cpu = (end.ServerCpuTicks - start.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond;
            report.Add("server_cpu_s", "server CPU time (" + what + ")", cpu, MetricKind.Seconds);
            report.Add("server_cpu_pct", "server CPU, average", cpu / seconds * 100, MetricKind.Percent, "100 = one core busy");
            if (delivered is > 0)
            {
                report.Add("server_cpu_us_per_1k", "server CPU per 1,000 delivered msgs", cpu * 1e6 / (delivered.Value / 1000), MetricKind.Micros);
                // User vs kernel: on loopback the kernel share (send syscalls, TCP, the receiver's softirq) is much
                // the same for every server, so the user share is what a server's own code costs.
                double user = (end.ServerUserTicks - start.ServerUserTicks) / ProcSampler.ClockTicksPerSecond;
                report.Add("server_user_us_per_1k", "  of which user space", user * 1e6 / (delivered.Value / 1000), MetricKind.Micros);
                report.Add("server_sys_us_per_1k", "  of which kernel", (cpu - user) * 1e6 / (delivered.Value / 1000), MetricKind.Micros);
            }

            long peak = Math.Max(start.ServerRssKb, end.ServerRssKb);
            foreach (ProcSample s in samples)
            {
                if (s.Seconds >= start.Seconds && s.Seconds <= end.Seconds && s.ServerAlive)
                {
                    peak = Math.Max(peak, s.ServerRssKb);
                }
            }

            report.Add("server_rss_start", "server RSS at start", start.ServerRssKb * 1024.0, MetricKind.Bytes);
            report.Add("server_rss_end", "server RSS at end", end.ServerRssKb * 1024.0, MetricKind.Bytes);
            report.Add("server_rss_peak", "server RSS peak", peak * 1024.0, MetricKind.Bytes);
            AddPerProcess(report, sampler, start, end, seconds, delivered);
        }

        double selfCpu = (end.SelfCpuTicks - start.SelfCpuTicks) / ProcSampler.ClockTicksPerSecond;
        double selfPct = selfCpu / seconds * 100;
        double selfPeak = 0;
        for (int i = 1; i < samples.Count; i++)
        {
            if (samples[i].Seconds > start.Seconds && samples[i - 1].Seconds < end.Seconds)
            {
                double dt = samples[i].Seconds - samples[i - 1].Seconds;
                if (dt > 0.5)
                {
                    selfPeak = Math.Max(selfPeak, (samples[i].SelfCpuTicks - samples[i - 1].SelfCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100);
                }
            }
        }

        report.Add("tool_gc_count", "load tool garbage collections (whole run)", GC.CollectionCount(0), MetricKind.Count);
        report.Add("tool_gc_pause_ms", "load tool GC pause time (whole run)", GC.GetTotalPauseDuration().TotalMilliseconds, MetricKind.LatencyMs);
        int cores = Environment.ProcessorCount;
        report.Add("tool_cpu_pct", "load tool CPU, average", selfPct, MetricKind.Percent, $"of {cores * 100} available");
        report.Add("tool_cpu_peak_pct", "load tool CPU, busiest second", selfPeak, MetricKind.Percent);
        report.Add("tool_rss", "load tool RSS at end", end.SelfRssKb * 1024.0, MetricKind.Bytes);
        if (selfPct >= SaturationShare * cores * 100)
        {
            report.Warnings.Add($"the load tool averaged {selfPct:F0}% CPU of {cores * 100}% available: it may have been the bottleneck (pin it to its own core, or lower the load)");
        }
    }

    /// <summary>
    /// With several --server-pid (the nodes of a cluster, and Redis): the figures above are sums over all of them, and
    /// each process also gets its own, keyed by its PID: <c>server_cpu_pct.PID</c>, <c>server_cpu_us_per_1k.PID</c>
    /// (its CPU per 1,000 deliveries of the whole run, so the parts add up to the total) and <c>server_rss_end.PID</c>.
    /// </summary>
    private static void AddPerProcess(RunReport report, ProcSampler sampler, ProcSample start, ProcSample end, double seconds, double? delivered)
    {
        IReadOnlyList<int> pids = sampler.ServerPids;
        if (pids.Count < 2 || start.PerServer.Length != pids.Count || end.PerServer.Length != pids.Count)
        {
            return;
        }

        for (int i = 0; i < pids.Count; i++)
        {
            string pid = pids[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
            ProcReading a = start.PerServer[i], b = end.PerServer[i];
            if (!a.Alive || !b.Alive)
            {
                report.Warnings.Add($"server process {pid} could not be read at the start or end of the measured window (did it exit?)");
                continue;
            }

            double cpu = (b.CpuTicks - a.CpuTicks) / ProcSampler.ClockTicksPerSecond;
            report.Add("server_cpu_pct." + pid, $"  process {pid}: CPU, average", cpu / seconds * 100, MetricKind.Percent, "100 = one core busy");
            if (delivered is > 0)
            {
                report.Add("server_cpu_us_per_1k." + pid, $"  process {pid}: CPU per 1,000 delivered msgs", cpu * 1e6 / (delivered.Value / 1000), MetricKind.Micros, "this process's share of server_cpu_us_per_1k");
            }

            report.Add("server_rss_end." + pid, $"  process {pid}: RSS at end", b.RssKb * 1024.0, MetricKind.Bytes);
        }
    }

    /// <summary>Adds per-second CPU % (server and tool) and server RSS columns from the periodic samples.</summary>
    public static void AddSeries(RunReport report, ProcSampler sampler, int length)
    {
        IReadOnlyList<ProcSample> samples = sampler.Samples;
        SeriesColumn? serverCpu = sampler.HasServer ? report.AddSeries("server_cpu_pct", "server CPU %", length) : null;
        SeriesColumn? serverRss = sampler.HasServer ? report.AddSeries("server_rss_mb", "server RSS MB", length) : null;
        SeriesColumn toolCpu = report.AddSeries("tool_cpu_pct", "load tool CPU %", length);
        for (int i = 1; i < samples.Count; i++)
        {
            ProcSample a = samples[i - 1], b = samples[i];
            int second = (int)Math.Round(a.Seconds);
            double dt = b.Seconds - a.Seconds;
            if (second < 0 || second >= length || dt <= 0.2)
            {
                continue;
            }

            toolCpu.Values[second] = (b.SelfCpuTicks - a.SelfCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100;
            if (serverCpu is not null && a.ServerAlive && b.ServerAlive)
            {
                serverCpu.Values[second] = (b.ServerCpuTicks - a.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100;
                serverRss!.Values[second] = b.ServerRssKb / 1024.0;
            }
        }

        report.Charts.Add(new ChartSpec("CPU (100 = one core)", "%", sampler.HasServer ? ["server_cpu_pct", "tool_cpu_pct"] : ["tool_cpu_pct"]));
        if (sampler.HasServer)
        {
            report.Charts.Add(new ChartSpec("Server RSS", "MB", ["server_rss_mb"]));
        }
    }
}
