using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>fanout</c>: S subscribers over C channels, publishers at R msgs/s in total, W s warm-up then D s measured.
/// <c>slow</c>: the same, but a share of the subscribers stop reading when the measured window starts; the
/// report's headline numbers (rate, ratio, latency) are those of the healthy subscribers only.
/// </summary>
internal static class FanoutScenario
{
    private const int Healthy = 0;
    private const int Slow = 1;

    public static async Task<RunReport> RunAsync(ScenarioContext ctx, bool slowScenario)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport(slowScenario ? "slow" : "fanout", s.Url);
        report.Setting("url", s.Url);
        ScenarioContext.AddUrlSettings(report, s);
        if (s.TlsDescription is not null)
        {
            report.Setting("tls", s.TlsDescription);
        }

        report.Setting("subscribers", s.Subscribers);
        report.Setting("channels", s.Channels);
        report.Setting("rate (msgs/s published)", s.Rate);
        report.Setting("payload (bytes of data)", s.PricePayload ? "price object (~1 KB)" : s.Payload);
        report.Setting("permessage-deflate offered", s.Deflate ? "yes" : "no");
        report.Setting("publish via", s.PublishVia == PublishVia.Http ? $"http ({s.HttpUrl})" : $"ws ({s.Publishers} connection(s))");
        report.Setting("subscribe via", s.SubscribeVia.ToString().ToLowerInvariant());
        report.Setting("receive buffer (bytes per connection)", s.ReceiveBuffer);
        report.Setting("warmup (s)", s.Warmup);
        report.Setting("duration (s)", s.Duration);
        report.Setting("on-time bound (ms)", s.OnTimeMs);
        if (slowScenario)
        {
            report.Setting("slow share", s.SlowShare);
            report.Setting("slow clients' SO_RCVBUF", s.SlowSocketBuffer);
        }

        report.Setting("server pid", s.ServerPidText);
        report.WarmupSeconds = s.Warmup;

        IReadOnlyList<string> channels = s.ChannelNames(s.Channels);
        int groups = slowScenario ? 2 : 1;
        var sink = new FanoutSink(ctx.Errors);

        // 1. Subscribers.
        ScenarioContext.Log($"connecting {s.Subscribers} subscriber(s) over {s.Channels} channel(s) to {string.Join(", ", s.Urls)} ...");
        ConnectionOptions healthyOptions = ctx.Options(s.ReceiveBuffer);
        ConnectionOptions slowOptions = ctx.Options(s.ReceiveBuffer, s.SlowSocketBuffer);
        long connectStart = Clock.Now;
        WsConnection?[] opened = await ctx.OpenManyAsync(
            s.Subscribers,
            i =>
            {
                bool slow = slowScenario && IsSlow(i, s.SlowShare);
                return new ConnectionSpec(channels[i % channels.Count], i % channels.Count, slow ? Slow : Healthy, slow ? slowOptions : healthyOptions);
            },
            sink,
            rate: 0,
            onOpened: null,
            ctx.Stop).ConfigureAwait(false);
        List<WsConnection> subscribers = opened.Where(c => c is not null).Select(c => c!).ToList();
        double connectSeconds = Clock.ToSeconds(Clock.Now - connectStart);
        ScenarioContext.Log($"{subscribers.Count} subscriber(s) ready in {connectSeconds:F1} s ({ctx.Errors.Total} error(s))");

        var perChannel = new int[groups, channels.Count];
        foreach (WsConnection c in subscribers)
        {
            perChannel[c.Group, c.ChannelIndex]++;
        }

        ScenarioContext.AddPerUrlCounts(report, s, subscribers, "subscribers");
        int healthyCount = subscribers.Count(c => c.Group == Healthy);
        int slowCount = subscribers.Count - healthyCount;

        if (subscribers.Count == 0 || ctx.Stop.IsCancellationRequested)
        {
            report.FatalError = subscribers.Count == 0 ? "no subscriber could connect and subscribe" : null;
            report.Partial = true;
            report.StopReason = ctx.Stop.IsCancellationRequested ? "stopped while connecting" : "no subscribers";
            report.Errors = [.. ctx.Errors.Snapshot()];
            await ScenarioContext.CloseAllAsync(subscribers, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return report;
        }

        // 2. Publishers.
        PayloadFactory payload = new(s.Payload, s.PricePayload);
        IPublishTransport transport;
        var publisherConnections = new List<WsConnection>();
        if (s.PublishVia == PublishVia.Http)
        {
            transport = new HttpPublishTransport(s.HttpUrl!, channels, payload);
        }
        else
        {
            for (int p = 0; p < s.Publishers; p++)
            {
                WsConnection? connection = await ctx.OpenAsync(-1 - p, new ConnectionSpec(null, 0, -1, ctx.Options(16 * 1024)), sink, null, ctx.Stop).ConfigureAwait(false);
                if (connection is not null)
                {
                    connection.Group = -1;
                    publisherConnections.Add(connection);
                }
            }

            if (publisherConnections.Count == 0)
            {
                report.FatalError = "no publisher connection could be opened";
                report.Partial = true;
                report.Errors = [.. ctx.Errors.Snapshot()];
                await ScenarioContext.CloseAllAsync(subscribers, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                return report;
            }

            transport = new WebSocketPublishTransport(publisherConnections, channels, payload, s.Protocol);
        }

        report.Setting("data bytes per message", payload.DataBytes);

        // 3. Run: t0, warm-up, measured window.
        int maxSeconds = (int)Math.Ceiling(s.Warmup + s.Duration + s.Grace) + 3;
        long t0 = Clock.Now + Clock.FromSeconds(0.05);
        using var metrics = new ReceiveMetrics(groups, t0, maxSeconds, s.OnTimeMs);
        long windowStart = t0 + Clock.FromSeconds(s.Warmup);
        long windowEnd = windowStart + Clock.FromSeconds(s.Duration);
        metrics.WindowStart = windowStart;
        metrics.WindowEnd = windowEnd;
        metrics.ExpectedIntervalNanos = ExpectedIntervalNanos(s.Rate, channels.Count);
        sink.Metrics = metrics;
        var publisher = new Publisher(transport, channels.Count, s.Rate, metrics, ctx.Errors);

        var soFar = new LatencySoFar(s.Warmup, second => metrics.Second(Healthy, second).Latency);
        ctx.Sampler.Start(t0, (prev, sample) =>
        {
            int second = (int)Math.Round(sample.Seconds) - 1;
            if (s.Progress && second >= 0)
            {
                (long count, LatencyHistogram latency) = metrics.Second(Healthy, second);
                long p99SoFar = soFar.Through(second).Percentile(0.99);
                long published = (uint)second < (uint)publisher.PerSecond.Length ? publisher.PerSecond[second] : 0;
                string phase = second < s.Warmup ? "warmup " : sample.Seconds <= s.Warmup + s.Duration + 0.5 ? "measure" : "drain  ";
                double dt = Math.Max(0.1, sample.Seconds - prev.Seconds);
                string server = ctx.Sampler.HasServer ? $"  server CPU {(sample.ServerCpuTicks - prev.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100,5:F1}%" : "";
                ScenarioContext.Log(
                    $"[{second + 1,4}s] {phase}  published {published,8:N0}/s  delivered {count,10:N0}/s  p50 {Format.Latency(Clock.NanosToMs(latency.Percentile(0.5))),9}  p99 {Format.Latency(Clock.NanosToMs(latency.Percentile(0.99))),9}  p99 so far {Format.Latency(Clock.NanosToMs(p99SoFar)),9}{server}  tool CPU {(sample.SelfCpuTicks - prev.SelfCpuTicks) / ProcSampler.ClockTicksPerSecond / dt * 100,5:F1}%  errors {ctx.Errors.Total}");
            }
        });
        report.StartedAt = DateTimeOffset.UtcNow;
        DateTimeOffset t0Wall = report.StartedAt + TimeSpan.FromSeconds(Clock.ToSeconds(t0 - Clock.Now));
        publisher.Start(t0, windowEnd, ctx.Stop);

        bool completed = await ScenarioContext.DelayUntilAsync(windowStart, ctx.Stop).ConfigureAwait(false);
        ProcSample startSample = ctx.Sampler.Sample();
        if (completed && slowScenario)
        {
            foreach (WsConnection c in subscribers.Where(c => c.Group == Slow))
            {
                c.Pause();
            }

            ScenarioContext.Log($"measured window started: {slowCount} slow subscriber(s) stopped reading");
        }

        if (completed)
        {
            completed = await ScenarioContext.DelayUntilAsync(windowEnd, ctx.Stop).ConfigureAwait(false);
        }

        long now = Clock.Now;
        ScenarioContext.CloseWindow(metrics, report, completed, windowStart, windowEnd);
        ProcSample endSample = ctx.Sampler.Sample();
        double windowSeconds = Clock.ToSeconds(metrics.WindowEnd - metrics.WindowStart);
        ctx.JoinPublisher(publisher, report);
        if (publisher.FatalError is not null && publisher.PublishedTotal == 0)
        {
            report.FatalError = "nothing could be published: " + publisher.FatalError;
        }

        // 4. Drain: wait (up to the grace period) until every expected healthy delivery has arrived.
        long expectedHealthy = Expected(publisher.PublishedInWindow, perChannel, Healthy);
        long drainDeadline = Clock.Now + Clock.FromSeconds(s.Grace);
        while (Clock.Now < drainDeadline && metrics.InWindowCount(Healthy) < expectedHealthy && !(report.Partial && ctx.Stop.IsCancellationRequested))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        double drainSeconds = Clock.ToSeconds(Clock.Now - now);
        GroupSnapshot healthy = metrics.Snapshot(Healthy);
        GroupSnapshot? slow = slowScenario ? metrics.Snapshot(Slow) : null;
        int endedDuringRun = subscribers.Count(c => c.IsEnded);
        int healthyEnded = subscribers.Count(c => c.IsEnded && c.Group == Healthy);
        int slowClosedByServer = 0;
        if (slowScenario)
        {
            // A client that does not read cannot see its close frame: let the slow ones read again briefly (after
            // the snapshot, so what they drain now is not counted) and see which the server had dropped.
            List<WsConnection> slowOnes = subscribers.Where(c => c.Group == Slow).ToList();
            foreach (WsConnection c in slowOnes)
            {
                c.Resume();
            }

            long resumeDeadline = Clock.Now + Clock.FromSeconds(Math.Max(1, s.Grace));
            while (Clock.Now < resumeDeadline && slowOnes.Any(c => !c.IsEnded) && !ctx.Stop.IsCancellationRequested)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }

            slowClosedByServer = slowOnes.Count(c => c.IsEnded);
        }

        ScenarioContext.Log($"closing {subscribers.Count + publisherConnections.Count} connection(s) ...");
        await ScenarioContext.CloseAllAsync(subscribers.Concat(publisherConnections), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        transport.Dispose();
        report.FinishedAt = DateTimeOffset.UtcNow;
        report.MeasuredEndSeconds = Clock.ToSeconds(metrics.WindowEnd - t0);

        // 5. Report.
        long published = publisher.PublishedInWindow.Sum();
        double ratio = expectedHealthy == 0 ? double.NaN : healthy.InWindow / (double)expectedHealthy;
        string who = slowScenario ? " (healthy clients)" : "";
        int requestedHealthy = Enumerable.Range(0, s.Subscribers).Count(i => !(slowScenario && IsSlow(i, s.SlowShare)));
        report.Add("subscribers", slowScenario ? "healthy subscribers connected" : "subscribers connected", healthyCount, MetricKind.Count, $"of {requestedHealthy} requested");
        if (slowScenario)
        {
            report.Add("slow_subscribers", "slow subscribers connected", slowCount, MetricKind.Count);
        }

        report.Add("connect_s", "time to connect and subscribe all", connectSeconds, MetricKind.Seconds);
        report.Add("window_s", "measured window", windowSeconds, MetricKind.Seconds);
        report.Add("published", "published in window", published, MetricKind.Count);
        report.Add("publish_rate", "publish rate achieved", windowSeconds > 0 ? published / windowSeconds : null, MetricKind.Rate, $"target {s.Rate:N0}/s");
        report.Add("expected", "expected deliveries" + who, expectedHealthy, MetricKind.Count, "published × subscribers of each channel");
        report.Add("received", "received" + who, healthy.InWindow, MetricKind.Count);
        report.Add("ratio", "delivery ratio" + who, ratio, MetricKind.Ratio, "received / expected");
        report.Add("rate", "delivered msgs/s" + who, windowSeconds > 0 ? healthy.InWindow / windowSeconds : null, MetricKind.Rate);
        AddLatency(report, healthy.Window, who);
        AddCorrectedLatency(report, healthy.Window, healthy.WindowCorrected, metrics.ExpectedIntervalNanos, who);
        report.Add("late", $"deliveries later than {s.OnTimeMs} ms" + who, healthy.Late, MetricKind.Count);
        report.Add("seq_gaps", "sequence gaps" + who, subscribers.Where(c => c.Group == Healthy).Sum(c => c.SeqGaps), MetricKind.Count, "in-window messages missing by the server's seq numbers");
        report.Add("seq_backwards", "messages out of order or repeated" + who, subscribers.Where(c => c.Group == Healthy).Sum(c => c.SeqBackwards), MetricKind.Count, "seq not above the previous one on the same connection");
        int shortSubscribers = subscribers.Count(c => c.Group == Healthy && c.ReceivedInWindow < publisher.PublishedInWindow[c.ChannelIndex]);
        report.Add("subscribers_short", "subscribers that missed messages" + who, shortSubscribers, MetricKind.Count);
        report.Add("ended_early", "healthy connections lost during the run", healthyEnded, MetricKind.Count);
        if (healthy.Untimed > 0)
        {
            report.Add("untimed", "data messages without a timestamp", healthy.Untimed, MetricKind.Count);
        }

        if (slow is not null)
        {
            long expectedSlow = Expected(publisher.PublishedInWindow, perChannel, Slow);
            report.Add("slow_received", "received by slow clients in window", slow.InWindow, MetricKind.Count);
            report.Add("slow_ratio", "delivery ratio of slow clients", expectedSlow == 0 ? null : slow.InWindow / (double)expectedSlow, MetricKind.Ratio, "low is expected: they stopped reading");
            report.Add("slow_closed_by_server", "slow clients the server had disconnected", slowClosedByServer, MetricKind.Count, "seen after letting them read again at the end");
        }

        // Bytes on the wire per delivery: everything the subscribers read after their 101 (frames, acks, pings),
        // divided by what they received; with permessage-deflate, the compressed size.
        List<WsConnection> healthyOnes = subscribers.Where(c => c.Group == Healthy).ToList();
        long deliveredTotal = healthyOnes.Sum(c => c.ReceivedTotal);
        report.Add("wire_bytes_per_delivery", "bytes on the wire per delivery" + who, deliveredTotal == 0 ? null : healthyOnes.Sum(c => Volatile.Read(ref c.BytesReceived)) / (double)deliveredTotal,
            MetricKind.Count, "bytes read by the subscribers ÷ data messages received, whole run");
        if (s.Deflate)
        {
            report.Add("deflate_negotiated", "subscribers with permessage-deflate" + who, healthyOnes.Count(c => c.Deflated), MetricKind.Count, $"of {healthyOnes.Count}");
        }

        report.Add("publisher_max_lag_ms", "publisher max lag behind schedule", publisher.MaxLagMs, MetricKind.LatencyMs);
        report.Add("drain_s", "drain time after the window", drainSeconds, MetricKind.Seconds);
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count, slowScenario ? "includes slow clients' closes" : null);
        ProcReport.Add(report, ctx.Sampler, startSample, endSample, healthy.InWindow + (slow?.InWindow ?? 0));

        if (ratio < 1 && healthy.InWindow < expectedHealthy)
        {
            report.Warnings.Add($"{expectedHealthy - healthy.InWindow:N0} expected deliveries{who} did not arrive within the {s.Grace} s grace period");
        }

        if (endedDuringRun > 0 && !slowScenario)
        {
            report.Warnings.Add($"{endedDuringRun} subscriber connection(s) ended during the run");
        }

        // 6. Time series.
        // Up to the end of the window, plus drain seconds in which something still arrived.
        int length = Math.Min(maxSeconds, (int)Math.Ceiling(Clock.ToSeconds(Clock.Now - t0)));
        int windowSecondsEnd = (int)Math.Ceiling(Clock.ToSeconds(metrics.WindowEnd - t0));
        while (length > windowSecondsEnd && healthy.PerSecondCount[length - 1] == 0 && (slow?.PerSecondCount[length - 1] ?? 0) == 0)
        {
            length--;
        }

        SeriesColumn pub = report.AddSeries("published", "published/s", length);
        SeriesColumn expected = report.AddSeries("expected", "expected deliveries/s" + who, length);
        SeriesColumn delivered = report.AddSeries("delivered", "delivered/s" + who, length);
        SeriesColumn? deliveredSlow = slow is null ? null : report.AddSeries("delivered_slow", "delivered/s (slow clients)", length);
        SeriesColumn p50 = report.AddSeries("p50_ms", "p50 ms", length);
        SeriesColumn p99 = report.AddSeries("p99_ms", "p99 ms", length);
        SeriesColumn max = report.AddSeries("max_ms", "max ms", length);
        double fanout = Enumerable.Range(0, channels.Count).Sum(c => perChannel[Healthy, c]) / (double)channels.Count;
        for (int i = 0; i < length; i++)
        {
            pub.Values[i] = publisher.PerSecond[i];
            expected.Values[i] = publisher.PerSecond[i] * fanout;
            delivered.Values[i] = healthy.PerSecondCount[i];
            if (deliveredSlow is not null)
            {
                deliveredSlow.Values[i] = slow!.PerSecondCount[i];
            }

            if (healthy.PerSecondLatency[i] is { TotalCount: > 0 } h)
            {
                p50.Values[i] = Clock.NanosToMs(h.Percentile(0.5));
                p99.Values[i] = Clock.NanosToMs(h.Percentile(0.99));
                max.Values[i] = Clock.NanosToMs(h.Max);
            }
        }

        report.LatencyLog = new LatencyLog(
            t0Wall,
            healthy.PerSecondLatency.Take(length).ToArray(),
            healthy.Window,
            healthy.WindowCorrected,
            Clock.ToSeconds(metrics.WindowStart - t0),
            Clock.ToSeconds(metrics.WindowEnd - t0));
        report.Charts.Add(new ChartSpec("Throughput: deliveries per second" + who, "msgs/s", deliveredSlow is null ? ["delivered", "expected"] : ["delivered", "expected", "delivered_slow"]) { Dashed = ["expected"] });
        report.Charts.Add(new ChartSpec("Published per second", "msgs/s", ["published"]));
        report.Charts.Add(new ChartSpec("Latency per second" + who + ", by arrival second", "ms", ["p50_ms", "p99_ms"]));
        ProcReport.AddSeries(report, ctx.Sampler, length);
        return report;
    }

    public static void AddLatency(RunReport report, LatencyHistogram h, string who)
    {
        bool any = h.TotalCount > 0;
        report.Add("p50", "latency p50" + who, any ? Clock.NanosToMs(h.Percentile(0.50)) : null, MetricKind.LatencyMs);
        report.Add("p90", "latency p90" + who, any ? Clock.NanosToMs(h.Percentile(0.90)) : null, MetricKind.LatencyMs);
        report.Add("p99", "latency p99" + who, any ? Clock.NanosToMs(h.Percentile(0.99)) : null, MetricKind.LatencyMs);
        report.Add("p999", "latency p99.9" + who, any ? Clock.NanosToMs(h.Percentile(0.999)) : null, MetricKind.LatencyMs);
        report.Add("max", "latency max" + who, any ? Clock.NanosToMs(h.Max) : null, MetricKind.LatencyMs);
        report.Add("mean", "latency mean" + who, any ? Clock.NanosToMs(h.Mean) : null, MetricKind.LatencyMs);
    }

    /// <summary>
    /// The intended interval between two messages of one subscriber's stream, in nanoseconds: the publisher sends
    /// R msgs/s round robin over C channels and each subscriber follows one channel, so its stream is R / C msgs/s
    /// and the interval is C / R seconds (C × 10^9 / R ns). 0 when the rate is not positive.
    /// </summary>
    public static long ExpectedIntervalNanos(double rate, int channels) =>
        rate > 0 && channels > 0 ? Math.Max(1, (long)Math.Round(channels * 1e9 / rate)) : 0;

    /// <summary>
    /// Percentiles corrected for coordinated omission (<c>*_co</c>), beside the raw ones: extra metrics only, the
    /// headline p50/p99/p99.9 stay raw (tools/FastWs.LoadGen/README.md, "Coordinated omission").
    /// </summary>
    public static void AddCorrectedLatency(RunReport report, LatencyHistogram raw, LatencyHistogram corrected, long intervalNanos, string who)
    {
        if (intervalNanos <= 0)
        {
            return;
        }

        bool any = corrected.TotalCount > 0;
        string note = $"corrected for coordinated omission, expected interval {Clock.NanosToMs(intervalNanos):0.###} ms per subscriber stream";
        report.Add("p50_co", "latency p50, CO-corrected" + who, any ? Clock.NanosToMs(corrected.Percentile(0.50)) : null, MetricKind.LatencyMs, note);
        report.Add("p99_co", "latency p99, CO-corrected" + who, any ? Clock.NanosToMs(corrected.Percentile(0.99)) : null, MetricKind.LatencyMs, note);
        report.Add("p999_co", "latency p99.9, CO-corrected" + who, any ? Clock.NanosToMs(corrected.Percentile(0.999)) : null, MetricKind.LatencyMs, note);
        report.Add("co_added", "samples added by the CO correction" + who, corrected.TotalCount - raw.TotalCount, MetricKind.Count, "values filled in for deliveries slower than the expected interval");
    }

    /// <summary>Spreads the slow clients evenly: client i is slow when the running share crosses an integer.</summary>
    private static bool IsSlow(int i, double share) => Math.Floor((i + 1) * share) > Math.Floor(i * share);

    private static long Expected(long[] publishedPerChannel, int[,] perChannel, int group)
    {
        long total = 0;
        for (int c = 0; c < publishedPerChannel.Length; c++)
        {
            total += publishedPerChannel[c] * perChannel[group, c];
        }

        return total;
    }

    /// <summary>
    /// Receives for all subscribers: timestamps to latency, seq numbers to gap counts, errors to the counter. Data comes as
    /// an envelope (<c>{"type":"message",...}</c>) or, from a FastWs namespace with the inline format, as the published
    /// object with <c>"channel"</c> and <c>"seq"</c> appended (no protocol <c>type</c>), which the connection hands over
    /// as other stream text, as it does for the reconnect scenario.
    /// </summary>
    private sealed class FanoutSink : IStreamSink
    {
        private readonly ErrorCounter _errors;

        public FanoutSink(ErrorCounter errors) => _errors = errors;

        public ReceiveMetrics? Metrics { get; set; }

        public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
        {
            ReceiveMetrics? metrics = Metrics;
            if (metrics is null || connection.Group < 0)
            {
                return;
            }

            connection.ReceivedTotal++;
            bool inWindow = false;
            if (ProtocolText.TryReadTimestamp(json, out long sent))
            {
                inWindow = metrics.Record(connection.Group, sent, receivedAt);
                if (inWindow)
                {
                    connection.ReceivedInWindow++;
                }
            }
            else
            {
                metrics.RecordUntimed(connection.Group);
            }

            if (ProtocolText.TryReadSeq(json, out long seq))
            {
                long last = connection.LastSeq;
                if (last >= 0 && seq > last + 1 && inWindow)
                {
                    // Counted for messages of the measured window only, like the delivery ratio.
                    connection.SeqGaps += seq - last - 1;
                }
                else if (last >= 0 && seq <= last)
                {
                    connection.SeqBackwards++;
                    _errors.Add("seq went backwards", $"subscriber {connection.Id}: seq {seq} after {last}");
                }

                connection.LastSeq = seq;
            }
        }

        public void OnSubscribed(WsConnection connection, ReadOnlySpan<byte> json)
        {
        }

        public void OnStreamText(WsConnection connection, ServerMessageKind kind, ReadOnlySpan<byte> json, long receivedAt)
        {
            // Inline data has a seq; other text without a protocol type (none is expected here) has not.
            if (kind == ServerMessageKind.Other && ProtocolText.TryReadSeq(json, out _))
            {
                OnData(connection, json, receivedAt);
            }
        }

        public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json)
        {
            string code = ProtocolText.ReadString(json, "\"code\""u8) ?? "error";
            _errors.Add((connection.Group < 0 ? "publisher: " : "") + "server error: " + code, System.Text.Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));
        }

        public void OnUnexpectedEnd(WsConnection connection, string kind) =>
            _errors.Add((connection.Group < 0 ? "publisher: " : connection.Group == Slow ? "slow client: " : "") + kind);
    }
}
