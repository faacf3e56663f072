using System.Globalization;
using System.Text;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>conflation</c> (issue 17): price updates at R msgs/s round robin over S slabs (<c>price:S0</c> … <c>price:S{S-1}</c>)
/// to N subscribers, each on K slabs (subscriber i takes slabs i·K … i·K+K-1, mod S, so with N·K = c·S every slab has c
/// subscribers), against a namespace with conflation (FastWs's <c>price</c> defaults: inline, 500 ms, snapshots). Beside
/// them P probe slabs (<c>price:P0</c> …) are updated once every --probe-every seconds each, staggered: every probe
/// update comes after a quiet interval, so the server must send it at once; subscriber i also takes probe i mod P. Every
/// update carries a counter that rises per slab (<c>"v"</c>); every subscriber checks per slab that each value it gets is
/// newer than the last (a value going backwards, or the same value twice, fails the run: <see cref="RequiredThresholds"/>).
/// Reports delivered vs published (the conflation ratio), server CPU per published and per delivered message, server
/// memory, /ws/stats (conflatedWaiting, the conflated counter), the probes' latency (the first update after a quiet
/// interval) and the conflated slabs' latency (which includes up to one interval by design).
/// </summary>
internal static class ConflationScenario
{
    /// <summary>Pass/fail rules every conflation run is judged by, on top of any --threshold (one on the same metric replaces its rule).</summary>
    public static readonly IReadOnlyList<string> RequiredThresholds = ["backwards==0", "repeats==0"];

    private const int SlabGroup = 0;
    private const int ProbeGroup = 1;

    /// <summary>The channels of subscriber <paramref name="i"/>: its slabs, then its probe (if any).</summary>
    public static string[] ChannelsOf(int i, int slabs, int perSubscriber, int probes, string prefix)
    {
        var channels = new List<string>(perSubscriber + 1);
        for (int j = 0; j < perSubscriber; j++)
        {
            channels.Add(SlabName(prefix, (int)(((long)i * perSubscriber + j) % slabs)));
        }

        if (probes > 0)
        {
            channels.Add(ProbeName(prefix, i % probes));
        }

        return [.. channels];
    }

    public static string SlabName(string prefix, int slab) => prefix + "S" + slab.ToString(CultureInfo.InvariantCulture);

    public static string ProbeName(string prefix, int probe) => prefix + "P" + probe.ToString(CultureInfo.InvariantCulture);

    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport("conflation", s.Url);
        int k = s.ChannelsPerSubscriber;
        report.Setting("url", s.Url);
        if (s.TlsDescription is not null)
        {
            report.Setting("tls", s.TlsDescription);
        }

        report.Setting("subscribers", s.Subscribers);
        report.Setting("slabs", $"{s.Slabs} ({SlabName(s.ChannelPrefix, 0)}..{SlabName(s.ChannelPrefix, s.Slabs - 1)})");
        report.Setting("slabs per subscriber", $"{k} (subscriber i: slabs i*{k} .. i*{k}+{k - 1} mod {s.Slabs})");
        report.Setting("rate (slab updates/s published)", s.Rate);
        report.Setting("probe slabs", s.Probes == 0 ? "none" : $"{s.Probes} ({ProbeName(s.ChannelPrefix, 0)}..{ProbeName(s.ChannelPrefix, s.Probes - 1)}), each updated every {s.ProbeEvery} s, staggered; subscriber i takes probe i mod {s.Probes}");
        report.Setting("conflation interval (ms)", $"{s.ConflationMs} (as the server is configured: --conflation-ms)");
        report.Setting("payload (bytes of data)", s.Payload);
        report.Setting("publishers", $"{s.Publishers} WebSocket connection(s), slab i on connection i mod {s.Publishers}; probes on one more");
        report.Setting("receive buffer (bytes per connection)", s.ReceiveBuffer);
        report.Setting("warmup (s)", s.Warmup);
        report.Setting("duration (s)", s.Duration);
        report.Setting("stats url", s.StatsUrl?.ToString() ?? "- (not read)");
        report.Setting("server pid", s.ServerPidText);
        report.WarmupSeconds = s.Warmup;

        string[] slabNames = Enumerable.Range(0, s.Slabs).Select(i => SlabName(s.ChannelPrefix, i)).ToArray();
        string[] probeNames = Enumerable.Range(0, s.Probes).Select(i => ProbeName(s.ChannelPrefix, i)).ToArray();
        var subscribersPerSlab = new int[s.Slabs];
        var subscribersPerProbe = new int[s.Probes];
        var sink = new ConflationSink(s.Subscribers, s.Slabs, k, s.Probes, s.ChannelPrefix, ctx.Errors);

        // 1. Subscribers.
        ScenarioContext.Log($"connecting {s.Subscribers} subscriber(s), {k} of {s.Slabs} slab(s) each{(s.Probes > 0 ? " + 1 probe" : "")}, to {s.Url} ...");
        ConnectionOptions options = ctx.Options(s.ReceiveBuffer);
        long connectStart = Clock.Now;
        WsConnection?[] opened = await ctx.OpenManyAsync(
            s.Subscribers,
            i =>
            {
                string[] channels = ChannelsOf(i, s.Slabs, k, s.Probes, s.ChannelPrefix);
                return new ConnectionSpec(channels[0], i, SlabGroup, options, SubscribeMessage: StreamProtocol.Subscribe(channels, [], i + 1));
            },
            sink,
            rate: 0,
            onOpened: null,
            ctx.Stop).ConfigureAwait(false);
        List<WsConnection> subscribers = opened.Where(c => c is not null).Select(c => c!).ToList();
        foreach (WsConnection c in subscribers)
        {
            for (int j = 0; j < k; j++)
            {
                subscribersPerSlab[(int)(((long)c.Id * k + j) % s.Slabs)]++;
            }

            if (s.Probes > 0)
            {
                subscribersPerProbe[c.Id % s.Probes]++;
            }
        }

        double connectSeconds = Clock.ToSeconds(Clock.Now - connectStart);
        ScenarioContext.Log($"{subscribers.Count} subscriber(s) ready in {connectSeconds:F1} s ({ctx.Errors.Total} error(s))");
        if (subscribers.Count == 0 || ctx.Stop.IsCancellationRequested)
        {
            report.FatalError = subscribers.Count == 0 ? "no subscriber could connect and subscribe" : null;
            report.Partial = true;
            report.StopReason = ctx.Stop.IsCancellationRequested ? "stopped while connecting" : "no subscribers";
            report.Errors = [.. ctx.Errors.Snapshot()];
            await ScenarioContext.CloseAllAsync(subscribers, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return report;
        }

        // 2. Publishers: the slab publishers, and one connection for the probes.
        var publisherConnections = new List<WsConnection>();
        for (int p = 0; p <= s.Publishers; p++)
        {
            WsConnection? connection = await ctx.OpenAsync(-1 - p, new ConnectionSpec(null, 0, -1, ctx.Options(16 * 1024)), sink, null, ctx.Stop).ConfigureAwait(false);
            if (connection is not null)
            {
                connection.Group = -1;
                publisherConnections.Add(connection);
            }
        }

        if (publisherConnections.Count <= s.Publishers)
        {
            report.FatalError = "the publisher connections could not be opened";
            report.Partial = true;
            report.Errors = [.. ctx.Errors.Snapshot()];
            await ScenarioContext.CloseAllAsync(subscribers.Concat(publisherConnections), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return report;
        }

        var payload = new PayloadFactory(s.Payload);
        var slabTransport = new SlabPublishTransport(publisherConnections.Take(s.Publishers).ToList(), slabNames, payload);
        var probeTransport = new SlabPublishTransport([publisherConnections[^1]], probeNames, payload);
        report.Setting("data bytes per message", payload.DataBytes);

        // 3. Run.
        using var stats = s.StatsUrl is null ? null : new StatsReader(s.StatsUrl);
        int maxSeconds = (int)Math.Ceiling(s.Warmup + s.Duration + s.Grace) + 3;
        long t0 = Clock.Now + Clock.FromSeconds(0.05);
        using var metrics = new ReceiveMetrics(2, t0, maxSeconds, s.OnTimeMs);
        long windowStart = t0 + Clock.FromSeconds(s.Warmup);
        long windowEnd = windowStart + Clock.FromSeconds(s.Duration);
        metrics.WindowStart = windowStart;
        metrics.WindowEnd = windowEnd;
        sink.Metrics = metrics;
        var publisher = new Publisher(slabTransport, s.Slabs, s.Rate, metrics, ctx.Errors);
        Publisher? probePublisher = s.Probes > 0 ? new Publisher(probeTransport, s.Probes, s.Probes / s.ProbeEvery, metrics, ctx.Errors) : null;

        var probesSoFar = new LatencySoFar(s.Warmup, second => metrics.Second(ProbeGroup, second).Latency);
        ctx.Sampler.Start(t0, (prev, sample) =>
        {
            int second = (int)Math.Round(sample.Seconds) - 1;
            if (s.Progress && second >= 0)
            {
                (long count, _) = metrics.Second(SlabGroup, second);
                (long probes, LatencyHistogram probeLatency) = metrics.Second(ProbeGroup, second);
                long probeP99SoFar = probesSoFar.Through(second).Percentile(0.99);
                long published = (uint)second < (uint)publisher.PerSecond.Length ? publisher.PerSecond[second] : 0;
                string phase = second < s.Warmup ? "warmup " : sample.Seconds <= s.Warmup + s.Duration + 0.5 ? "measure" : "drain  ";
                double dt = Math.Max(0.1, sample.Seconds - prev.Seconds);
                string server = ctx.Sampler.HasServer ? $"  server CPU {(sample.ServerCpuTicks - prev.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100,5:F1}%" : "";
                ScenarioContext.Log(
                    $"[{second + 1,4}s] {phase}  published {published,8:N0}/s  delivered {count,8:N0}/s  probes {probes,6:N0}/s p99 {Format.Latency(Clock.NanosToMs(probeLatency.Percentile(0.99))),9} (so far {Format.Latency(Clock.NanosToMs(probeP99SoFar)),9}){server}  tool CPU {(sample.SelfCpuTicks - prev.SelfCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100,5:F1}%  errors {ctx.Errors.Total}");
            }
        });
        report.StartedAt = DateTimeOffset.UtcNow;
        publisher.Start(t0, windowEnd, ctx.Stop);
        probePublisher?.Start(t0, windowEnd, ctx.Stop);

        bool completed = await ScenarioContext.DelayUntilAsync(windowStart, ctx.Stop).ConfigureAwait(false);
        ProcSample startSample = ctx.Sampler.Sample();
        var statErrors = new List<string>();
        ServerStats? before = await ReadStatsAsync(stats, statErrors, ctx.Stop).ConfigureAwait(false);
        long waitingMax = 0, waitingSum = 0, waitingSamples = 0;
        while (completed && Clock.Now < windowEnd)
        {
            // conflatedWaiting once a second through the window: how many slabs hold a newer update for their interval's end.
            long next = Math.Min(windowEnd, Clock.Now + Clock.FromSeconds(1));
            completed = await ScenarioContext.DelayUntilAsync(next, ctx.Stop).ConfigureAwait(false);
            if (completed && stats is not null && Clock.Now < windowEnd - Clock.FromSeconds(0.2))
            {
                ServerStats? sample = await ReadStatsAsync(stats, statErrors, ctx.Stop).ConfigureAwait(false);
                if (sample is not null)
                {
                    waitingMax = Math.Max(waitingMax, sample.ConflatedWaiting);
                    waitingSum += sample.ConflatedWaiting;
                    waitingSamples++;
                }
            }
        }

        long now = Clock.Now;
        ScenarioContext.CloseWindow(metrics, report, completed, windowStart, windowEnd);
        ProcSample endSample = ctx.Sampler.Sample();
        ServerStats? after = await ReadStatsAsync(stats, statErrors, CancellationToken.None).ConfigureAwait(false);
        double windowSeconds = Clock.ToSeconds(metrics.WindowEnd - metrics.WindowStart);
        foreach (Publisher p in probePublisher is null ? [publisher] : new[] { publisher, probePublisher })
        {
            ctx.JoinPublisher(p, report);
        }

        if (publisher.PublishedTotal == 0)
        {
            report.FatalError = "nothing could be published" + (publisher.FatalError is null ? "" : ": " + publisher.FatalError);
        }

        // 4. Drain: conflated updates go out when their interval ends; wait at least two intervals, and for every probe.
        long probeExpected = 0;
        for (int p = 0; p < s.Probes; p++)
        {
            probeExpected += probePublisher!.PublishedInWindow[p] * subscribersPerProbe[p];
        }

        long drainMin = Clock.Now + Clock.FromSeconds(Math.Min(s.Grace, 2 * s.ConflationMs / 1000.0));
        long drainDeadline = Clock.Now + Clock.FromSeconds(s.Grace);
        while (Clock.Now < drainDeadline && (Clock.Now < drainMin || metrics.InWindowCount(ProbeGroup) < probeExpected) && !(report.Partial && ctx.Stop.IsCancellationRequested))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        double drainSeconds = Clock.ToSeconds(Clock.Now - now);
        GroupSnapshot slabs = metrics.Snapshot(SlabGroup);
        GroupSnapshot probesSeen = metrics.Snapshot(ProbeGroup);
        ConflationTotals totals = sink.Totals();
        (long staleSubscriptions, long staleExample) = sink.StaleAtEnd(subscribers, slabTransport.LastSent, probeTransport.LastSent);
        int ended = subscribers.Count(c => c.IsEnded);

        ScenarioContext.Log($"closing {subscribers.Count + publisherConnections.Count} connection(s) ...");
        await ScenarioContext.CloseAllAsync(subscribers.Concat(publisherConnections), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        slabTransport.Dispose();
        probeTransport.Dispose();
        report.FinishedAt = DateTimeOffset.UtcNow;
        report.MeasuredEndSeconds = Clock.ToSeconds(metrics.WindowEnd - t0);

        // 5. Report.
        long published = publisher.PublishedInWindow.Sum();
        long unconflated = 0;
        for (int i = 0; i < s.Slabs; i++)
        {
            unconflated += publisher.PublishedInWindow[i] * subscribersPerSlab[i];
        }

        long subscriptions = subscribersPerSlab.Sum();
        int slabsWithout = subscribersPerSlab.Count(n => n == 0);
        double? Per(double value) => windowSeconds > 0 ? value / windowSeconds : null;
        report.Add("subscribers", "subscribers connected", subscribers.Count, MetricKind.Count, $"of {s.Subscribers} requested");
        report.Add("connect_s", "time to connect and subscribe all", connectSeconds, MetricKind.Seconds);
        report.Add("window_s", "measured window", windowSeconds, MetricKind.Seconds);
        report.Add("published", "slab updates published in window", published, MetricKind.Count);
        report.Add("publish_rate", "publish rate achieved", Per(published), MetricKind.Rate, $"target {s.Rate:N0}/s");
        report.Add("unconflated", "deliveries without conflation", unconflated, MetricKind.Count, "published × subscribers of each slab");
        report.Add("received", "slab updates delivered", slabs.InWindow, MetricKind.Count, "by publish time in the window");
        report.Add("rate", "slab updates delivered/s", Per(slabs.InWindow), MetricKind.Rate);
        report.Add("conflation_ratio", "delivered / unconflated", unconflated == 0 ? null : slabs.InWindow / (double)unconflated, MetricKind.Ratio, "share of the updates that reached each subscriber");
        report.Add("per_subscription_rate", "deliveries per slab subscription per second", subscriptions == 0 || windowSeconds <= 0 ? null : slabs.InWindow / (double)subscriptions / windowSeconds, MetricKind.Rate,
            $"at most about {1000.0 / s.ConflationMs:0.##}/s (one per {s.ConflationMs} ms interval) when updates come faster");
        FanoutScenario.AddLatency(report, slabs.Window, " (conflated slabs)");
        RenameLatency(report, "conflated_");
        long probePublished = probePublisher?.PublishedInWindow.Sum() ?? 0;
        report.Add("probe_published", "probe updates published in window", probePublished, MetricKind.Count);
        report.Add("probe_expected", "probe deliveries expected", probeExpected, MetricKind.Count, "every probe update to every subscriber of its probe");
        report.Add("probe_received", "probe deliveries received", probesSeen.InWindow, MetricKind.Count);
        report.Add("probe_ratio", "probe delivery ratio", probeExpected == 0 ? null : probesSeen.InWindow / (double)probeExpected, MetricKind.Ratio, "a probe update comes after a quiet interval: never replaced");
        FanoutScenario.AddLatency(report, probesSeen.Window, " (probes: first update after a quiet interval)");
        RenameLatency(report, "probe_");
        report.Add("backwards", "values that went backwards", totals.Backwards, MetricKind.Count, "an older value after a newer one on a slab; fails the run");
        report.Add("repeats", "values received twice", totals.Repeats, MetricKind.Count, "the same value again on a slab; fails the run");
        report.Add("seq_gaps", "seq gaps", totals.SeqGaps, MetricKind.Count, "conflation numbers what it delivers: expected 0");
        report.Add("snapshots", "snapshots received", totals.Snapshots, MetricKind.Count, "after subscribing, for slabs that already had a value");
        report.Add("stale_at_end", "subscriptions without the slab's last value at the end", staleSubscriptions, MetricKind.Count, "the latest value must go out when its interval ends");
        report.Add("ended_early", "subscriber connections lost during the run", ended, MetricKind.Count);
        report.Add("publisher_max_lag_ms", "publisher max lag behind schedule", publisher.MaxLagMs, MetricKind.LatencyMs);
        report.Add("drain_s", "drain time after the window", drainSeconds, MetricKind.Seconds);
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);
        ProcReport.Add(report, ctx.Sampler, startSample, endSample, slabs.InWindow + probesSeen.InWindow);
        if (report.Find("server_cpu_s")?.Value is double cpu && published + probePublished > 0)
        {
            report.Add("server_cpu_us_per_1k_published", "server CPU per 1,000 published updates", cpu * 1e6 / ((published + probePublished) / 1000.0), MetricKind.Micros, "slabs and probes");
        }

        if (before is not null && after is not null)
        {
            report.Add("stats_published", "server: publishes counted (window)", after.Published - before.Published, MetricKind.Count, "/ws/stats counters.published");
            report.Add("stats_conflated", "server: publishes replaced by a newer one (window)", after.Conflated - before.Conflated, MetricKind.Count, "/ws/stats counters.conflated");
            report.Add("stats_messages_out", "server: messages sent (window)", after.MessagesOut - before.MessagesOut, MetricKind.Count, "/ws/stats counters.messagesOut");
            report.Add("stats_skipped", "server: messages skipped for slow consumers (window)", after.MessagesSkipped - before.MessagesSkipped, MetricKind.Count);
            report.Add("conflated_waiting_max", "server: conflatedWaiting, highest", waitingMax, MetricKind.Count, $"sampled once a second in the window ({waitingSamples} samples)");
            report.Add("conflated_waiting_mean", "server: conflatedWaiting, mean", waitingSamples == 0 ? null : waitingSum / (double)waitingSamples, MetricKind.Count);
            report.Add("stats_working_set", "server: working set at the end", after.WorkingSetBytes, MetricKind.Bytes, "/ws/stats memory.workingSetBytes");
            report.Add("stats_gc_heap", "server: GC heap at the end", after.GcHeapBytes, MetricKind.Bytes, "after the last GC");
            report.Add("stats_history_buffer_bytes", "server: history/snapshot buffers at the end", after.HistoryBufferBytes, MetricKind.Bytes, "/ws/stats history.bufferBytes");
        }

        foreach (string problem in statErrors.Distinct())
        {
            report.Warnings.Add("stats: " + problem);
        }

        if (totals.FirstBackwards is { } backwards)
        {
            report.Warnings.Add("first value that went backwards: " + backwards);
        }

        if (staleSubscriptions > 0)
        {
            report.Warnings.Add($"{staleSubscriptions} subscription(s) did not end with their slab's last value after the {s.Grace} s grace period (e.g. {sink.Describe(staleExample)})");
        }

        if (slabsWithout > 0)
        {
            report.Warnings.Add($"{slabsWithout} slab(s) have no subscriber (subscribers × slabs per subscriber < slabs): their updates are published but go nowhere");
        }

        if (probeExpected > 0 && probesSeen.InWindow < probeExpected)
        {
            report.Warnings.Add($"{probeExpected - probesSeen.InWindow:N0} probe deliveries did not arrive within the {s.Grace} s grace period");
        }

        if (ended > 0)
        {
            report.Warnings.Add($"{ended} subscriber connection(s) ended during the run");
        }

        // 6. Time series.
        int length = Math.Min(maxSeconds, (int)Math.Ceiling(Clock.ToSeconds(Clock.Now - t0)));
        SeriesColumn pub = report.AddSeries("published", "published/s", length);
        SeriesColumn delivered = report.AddSeries("delivered", "slab updates delivered/s", length);
        SeriesColumn probeCount = report.AddSeries("probes", "probe deliveries/s", length);
        SeriesColumn p50 = report.AddSeries("p50_ms", "probe p50 ms", length);
        SeriesColumn p99 = report.AddSeries("p99_ms", "probe p99 ms", length);
        SeriesColumn slabP99 = report.AddSeries("conflated_p99_ms", "conflated p99 ms", length);
        for (int i = 0; i < length; i++)
        {
            pub.Values[i] = publisher.PerSecond[i];
            delivered.Values[i] = slabs.PerSecondCount[i];
            probeCount.Values[i] = probesSeen.PerSecondCount[i];
            if (probesSeen.PerSecondLatency[i] is { TotalCount: > 0 } h)
            {
                p50.Values[i] = Clock.NanosToMs(h.Percentile(0.5));
                p99.Values[i] = Clock.NanosToMs(h.Percentile(0.99));
            }

            if (slabs.PerSecondLatency[i] is { TotalCount: > 0 } c)
            {
                slabP99.Values[i] = Clock.NanosToMs(c.Percentile(0.99));
            }
        }

        report.Charts.Add(new ChartSpec("Slab updates: published and delivered per second", "msgs/s", ["published", "delivered"]));
        report.Charts.Add(new ChartSpec("Latency per second, by arrival second", "ms", ["p50_ms", "p99_ms", "conflated_p99_ms"]));
        ProcReport.AddSeries(report, ctx.Sampler, length);
        return report;
    }

    /// <summary>Gives the latency metrics just added by <see cref="FanoutScenario.AddLatency"/> (p50 … mean) a prefix.</summary>
    private static void RenameLatency(RunReport report, string prefix)
    {
        string[] keys = ["p50", "p90", "p99", "p999", "max", "mean"];
        for (int i = 0; i < report.Metrics.Count; i++)
        {
            Metric m = report.Metrics[i];
            if (keys.Contains(m.Key))
            {
                report.Metrics[i] = m with { Key = prefix + m.Key };
            }
        }
    }

    private static async Task<ServerStats?> ReadStatsAsync(StatsReader? reader, List<string> errors, CancellationToken ct)
    {
        if (reader is null)
        {
            return null;
        }

        (ServerStats? stats, string? error) = await reader.ReadAsync(ct).ConfigureAwait(false);
        if (error is not null)
        {
            errors.Add(error);
        }

        return stats;
    }
}

/// <summary>What all subscribers saw, summed after the run.</summary>
internal sealed record ConflationTotals(long Backwards, long Repeats, long SeqGaps, long Snapshots, string? FirstBackwards);

/// <summary>
/// One subscriber's view of its slabs: the last value (<c>"v"</c>) and seq per slot (its K slabs, then its probe). Only
/// the subscriber's receive loop touches it; the totals are read after the run.
/// </summary>
internal sealed class SlabValueChecker
{
    private readonly long[] _lastValue;
    private readonly long[] _lastSeq;

    public SlabValueChecker(int slots)
    {
        _lastValue = new long[slots];
        _lastSeq = new long[slots];
        Array.Fill(_lastValue, -1);
        Array.Fill(_lastSeq, -1);
    }

    public long Backwards { get; private set; }

    public long Repeats { get; private set; }

    public long SeqGaps { get; private set; }

    public long Snapshots { get; private set; }

    /// <summary>The last value received in <paramref name="slot"/> (-1: none).</summary>
    public long LastValue(int slot) => _lastValue[slot];

    /// <summary>
    /// One delivery. Returns <see cref="ValueVerdict.Newer"/> for a value above the last one (or the first), else says
    /// which rule it broke. <paramref name="value"/> is null when the message had none (another publisher's): only the
    /// seq is checked then.
    /// </summary>
    public ValueVerdict Observe(int slot, long? value, long seq, bool snapshot)
    {
        if (snapshot)
        {
            Snapshots++;
        }

        long lastSeq = _lastSeq[slot];
        if (lastSeq >= 0 && seq > lastSeq + 1)
        {
            SeqGaps += seq - lastSeq - 1;
        }

        _lastSeq[slot] = Math.Max(lastSeq, seq);
        if (value is not long v)
        {
            return ValueVerdict.NoValue;
        }

        long last = _lastValue[slot];
        if (last >= 0 && v < last)
        {
            Backwards++;
            return ValueVerdict.Backwards;
        }

        if (v == last)
        {
            Repeats++;
            return ValueVerdict.Repeat;
        }

        _lastValue[slot] = v;
        return ValueVerdict.Newer;
    }
}

internal enum ValueVerdict
{
    Newer,
    Backwards,
    Repeat,
    NoValue,
}

/// <summary>Receives for all conflation subscribers: inline (and envelope) price updates to per-slab checks and latency.</summary>
internal sealed class ConflationSink : IStreamSink
{
    private readonly SlabValueChecker[] _checkers;
    private readonly int _slabs;
    private readonly int _perSubscriber;
    private readonly int _probes;
    private readonly string _prefix;
    private readonly byte[] _prefixBytes;
    private readonly ErrorCounter _errors;
    private string? _firstBackwards;

    public ConflationSink(int subscribers, int slabs, int perSubscriber, int probes, string prefix, ErrorCounter errors)
    {
        _slabs = slabs;
        _perSubscriber = perSubscriber;
        _probes = probes;
        _prefix = prefix;
        _prefixBytes = Encoding.UTF8.GetBytes(prefix);
        _errors = errors;
        _checkers = Enumerable.Range(0, subscribers).Select(_ => new SlabValueChecker(perSubscriber + 1)).ToArray();
    }

    public ReceiveMetrics? Metrics { get; set; }

    public void OnSubscribed(WsConnection connection, ReadOnlySpan<byte> json)
    {
    }

    public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt) => OnMessage(connection, json, receivedAt);

    public void OnStreamText(WsConnection connection, ServerMessageKind kind, ReadOnlySpan<byte> json, long receivedAt)
    {
        // Inline data (FastWs's price default): the published object with "channel" and "seq" appended.
        if (kind == ServerMessageKind.Other)
        {
            OnMessage(connection, json, receivedAt);
        }
    }

    public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json)
    {
        string code = ProtocolText.ReadString(json, "\"code\""u8) ?? "error";
        _errors.Add((connection.Group < 0 ? "publisher: " : "") + "server error: " + code, Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));
    }

    public void OnUnexpectedEnd(WsConnection connection, string kind) => _errors.Add((connection.Group < 0 ? "publisher: " : "") + kind);

    /// <summary>
    /// The slot of a channel name for subscriber <paramref name="subscriber"/>: 0..K-1 for its slabs, K for its probe;
    /// -1 for anything else.
    /// </summary>
    public int SlotOf(int subscriber, ReadOnlySpan<byte> channel, out bool probe)
    {
        probe = false;
        if (!channel.StartsWith(_prefixBytes) || channel.Length < _prefixBytes.Length + 2)
        {
            return -1;
        }

        byte kind = channel[_prefixBytes.Length];
        if (!System.Buffers.Text.Utf8Parser.TryParse(channel[(_prefixBytes.Length + 1)..], out int index, out int consumed)
            || consumed != channel.Length - _prefixBytes.Length - 1 || index < 0)
        {
            return -1;
        }

        if (kind == (byte)'P')
        {
            probe = true;
            return _probes > 0 && index == subscriber % _probes ? _perSubscriber : -1;
        }

        if (kind != (byte)'S' || index >= _slabs)
        {
            return -1;
        }

        long slot = ((index - (long)subscriber * _perSubscriber) % _slabs + _slabs) % _slabs;
        return slot < _perSubscriber ? (int)slot : -1;
    }

    public ConflationTotals Totals() => new(
        _checkers.Sum(c => c.Backwards),
        _checkers.Sum(c => c.Repeats),
        _checkers.Sum(c => c.SeqGaps),
        _checkers.Sum(c => c.Snapshots),
        Volatile.Read(ref _firstBackwards));

    /// <summary>Subscriptions (of connections still open) whose last value is below the last one published to their slab; and one of them, as subscriber × slots + slot.</summary>
    public (long Count, long Example) StaleAtEnd(IEnumerable<WsConnection> subscribers, long[] lastSlab, long[] lastProbe)
    {
        long count = 0, example = -1;
        foreach (WsConnection c in subscribers.Where(c => !c.IsEnded))
        {
            SlabValueChecker checker = _checkers[c.Id];
            for (int slot = 0; slot <= _perSubscriber; slot++)
            {
                long expected = slot < _perSubscriber
                    ? lastSlab[(int)(((long)c.Id * _perSubscriber + slot) % _slabs)]
                    : _probes > 0 ? lastProbe[c.Id % _probes] : 0;
                if (expected > 0 && checker.LastValue(slot) < expected)
                {
                    count++;
                    example = example < 0 ? (long)c.Id * (_perSubscriber + 1) + slot : example;
                }
            }
        }

        return (count, example);
    }

    /// <summary>"subscriber 3, price:S31 (last value 40 of 42)" for an example from <see cref="StaleAtEnd"/>.</summary>
    public string Describe(long example)
    {
        if (example < 0)
        {
            return "-";
        }

        int subscriber = (int)(example / (_perSubscriber + 1));
        int slot = (int)(example % (_perSubscriber + 1));
        string channel = slot < _perSubscriber
            ? ConflationScenario.SlabName(_prefix, (int)(((long)subscriber * _perSubscriber + slot) % _slabs))
            : ConflationScenario.ProbeName(_prefix, subscriber % Math.Max(1, _probes));
        return $"subscriber {subscriber}, {channel}, last value {_checkers[subscriber].LastValue(slot)}";
    }

    private void OnMessage(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
    {
        ReceiveMetrics? metrics = Metrics;
        if (metrics is null || connection.Group < 0 || (uint)connection.Id >= (uint)_checkers.Length
            || !ProtocolText.TryReadStringBytes(json, "\"channel\""u8, out ReadOnlySpan<byte> channel)
            || !ProtocolText.TryReadSeq(json, out long seq))
        {
            return;
        }

        int slot = SlotOf(connection.Id, channel, out bool probe);
        if (slot < 0)
        {
            _errors.Add("message on a channel not subscribed", Encoding.UTF8.GetString(channel));
            return;
        }

        bool snapshot = ProtocolText.IsTrue(json, "\"snapshot\""u8);
        long? value = ProtocolText.TryReadLong(json, "\"v\""u8, out long v) ? v : null;
        ValueVerdict verdict = _checkers[connection.Id].Observe(slot, value, seq, snapshot);
        if (verdict == ValueVerdict.Backwards && _firstBackwards is null)
        {
            Interlocked.CompareExchange(ref _firstBackwards, $"subscriber {connection.Id}, {Encoding.UTF8.GetString(channel)}: value {v} (seq {seq}) after {_checkers[connection.Id].LastValue(slot)}", null);
        }

        if (snapshot)
        {
            // The slab's latest value at subscribe time: checked, not timed (it may be old by design).
            return;
        }

        if (ProtocolText.TryReadTimestamp(json, out long sent))
        {
            metrics.Record(probe ? 1 : 0, sent, receivedAt);
        }
        else
        {
            metrics.RecordUntimed(probe ? 1 : 0);
        }
    }
}
