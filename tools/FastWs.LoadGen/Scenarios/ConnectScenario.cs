using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>connect</c>: ramp to N idle, subscribed connections (at a given handshake rate, or as fast as the
/// concurrency allows), hold them, and report handshakes/s, handshake latency and, with --server-pid, the
/// server's memory per connection from its RSS before the ramp and after the hold.
/// </summary>
internal static class ConnectScenario
{
    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport("connect", s.Url);
        report.Setting("url", s.Url);
        ScenarioContext.AddUrlSettings(report, s);
        if (s.TlsDescription is not null)
        {
            report.Setting("tls", s.TlsDescription);
        }

        report.Setting("connections", s.Connections);
        report.Setting("rate (handshakes/s, 0 = unpaced)", s.Rate);
        report.Setting("connect concurrency", s.ConnectConcurrency);
        report.Setting("receive buffer (bytes per connection)", s.ReceiveBuffer);
        report.Setting("channels", s.Channels == 0 ? "none (no subscribe)" : s.Channels);
        report.Setting("subscribe via", s.SubscribeVia.ToString().ToLowerInvariant());
        report.Setting("max ramp time (s)", s.Duration);
        report.Setting("hold (s)", s.Hold);
        report.Setting("server pid", s.ServerPidText);

        IReadOnlyList<string> channels = s.ChannelNames(s.Channels);
        var sink = new IdleSink(ctx.Errors);
        ConnectionOptions options = ctx.Options(s.ReceiveBuffer);
        int maxSeconds = (int)Math.Ceiling(s.Duration + s.Hold + s.Grace) + 10;
        var perSecond = new long[maxSeconds];
        var upgradeLatency = new LatencyHistogram();
        var readyLatency = new LatencyHistogram();
        var latencyLock = new Lock();
        long open = 0;
        long lastCompletion = 0;

        long t0 = Clock.Now;
        ctx.Sampler.Start(t0, (prev, sample) =>
        {
            int second = (int)Math.Round(sample.Seconds) - 1;
            if (s.Progress && second >= 0 && second < maxSeconds)
            {
                string server = ctx.Sampler.HasServer ? $"  server RSS {sample.ServerRssKb / 1024.0,7:F1} MB  server CPU {(sample.ServerCpuTicks - prev.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond / Math.Max(0.1, sample.Seconds - prev.Seconds) * 100,5:F1}%" : "";
                ScenarioContext.Log($"[{second + 1,4}s] open {Interlocked.Read(ref open) - sink.Lost,7:N0}  handshakes {Interlocked.Read(ref perSecond[second]),6:N0}/s{server}  errors {ctx.Errors.Total}");
            }
        });
        ProcSample before = ctx.Sampler.Sample();
        report.StartedAt = DateTimeOffset.UtcNow;

        // Ramp.
        ScenarioContext.Log($"opening {s.Connections} connection(s) to {s.Url} ...");
        using var rampLimit = CancellationTokenSource.CreateLinkedTokenSource(ctx.Stop);
        rampLimit.CancelAfter(TimeSpan.FromSeconds(s.Duration));
        long rampStart = Clock.Now;
        WsConnection?[] opened = await ctx.OpenManyAsync(
            s.Connections,
            i => new ConnectionSpec(channels.Count == 0 ? null : channels[i % channels.Count], channels.Count == 0 ? 0 : i % channels.Count, 0, options),
            sink,
            s.Rate,
            (connection, timings) =>
            {
                Interlocked.Increment(ref open);
                int second = (int)Clock.ToSeconds(timings.Subscribed - t0);
                if ((uint)second < (uint)maxSeconds)
                {
                    Interlocked.Increment(ref perSecond[second]);
                }

                lock (latencyLock)
                {
                    upgradeLatency.Record(Clock.ToNanos(timings.Upgraded - timings.Started));
                    readyLatency.Record(Clock.ToNanos(timings.Subscribed - timings.Started));
                    lastCompletion = Math.Max(lastCompletion, timings.Subscribed);
                }
            },
            rampLimit.Token).ConfigureAwait(false);
        List<WsConnection> connections = opened.Where(c => c is not null).Select(c => c!).ToList();
        long rampEnd = connections.Count > 0 ? lastCompletion : Clock.Now;
        double rampSeconds = Math.Max(1e-3, Clock.ToSeconds(rampEnd - rampStart));
        ProcSample rampSample = ctx.Sampler.Sample();
        bool rampTimedOut = rampLimit.IsCancellationRequested && !ctx.Stop.IsCancellationRequested && connections.Count < s.Connections;
        if (rampTimedOut)
        {
            report.Warnings.Add($"the ramp did not finish within {s.Duration} s (--duration): {connections.Count} of {s.Connections} connections open");
        }

        ScenarioContext.Log($"{connections.Count} connection(s) open after {rampSeconds:F2} s ({connections.Count / rampSeconds:N0} handshakes/s); holding {s.Hold} s ...");

        // Hold.
        long lostBeforeHold = sink.Lost;
        bool completed = !ctx.Stop.IsCancellationRequested && await ScenarioContext.DelayUntilAsync(Clock.Now + Clock.FromSeconds(s.Hold), ctx.Stop).ConfigureAwait(false);
        ProcSample after = ctx.Sampler.Sample();
        int alive = connections.Count(c => !c.IsEnded);
        long lostDuringHold = sink.Lost - lostBeforeHold;
        if (!completed)
        {
            report.Partial = true;
            report.StopReason = "stopped by signal";
        }

        report.MeasuredEndSeconds = after.Seconds;
        ScenarioContext.Log($"closing {connections.Count} connection(s) ...");
        long closeStart = Clock.Now;
        await ScenarioContext.CloseAllAsync(connections, TimeSpan.FromSeconds(Math.Max(5, s.Grace * 5))).ConfigureAwait(false);
        double closeSeconds = Clock.ToSeconds(Clock.Now - closeStart);
        report.FinishedAt = DateTimeOffset.UtcNow;

        // Report.
        if (connections.Count == 0)
        {
            report.FatalError = "no connection could be opened";
        }

        report.Add("requested", "connections requested", s.Connections, MetricKind.Count);
        report.Add("connections", "connections opened", connections.Count, MetricKind.Count);
        ScenarioContext.AddPerUrlCounts(report, s, connections, "connections");
        report.Add("failed", "connections failed", s.Connections - connections.Count, MetricKind.Count);
        report.Add("ramp_s", "ramp time (first start to last ready)", rampSeconds, MetricKind.Seconds);
        report.Add("handshakes", "handshakes/s (connections opened / ramp time)", connections.Count / rampSeconds, MetricKind.Rate, s.Channels > 0 ? "each includes its subscribe ack" : null);
        bool any = upgradeLatency.TotalCount > 0;
        report.Add("upgrade_p50", "TCP connect + upgrade p50", any ? Clock.NanosToMs(upgradeLatency.Percentile(0.5)) : null, MetricKind.LatencyMs);
        report.Add("upgrade_p99", "TCP connect + upgrade p99", any ? Clock.NanosToMs(upgradeLatency.Percentile(0.99)) : null, MetricKind.LatencyMs);
        report.Add("upgrade_max", "TCP connect + upgrade max", any ? Clock.NanosToMs(upgradeLatency.Max) : null, MetricKind.LatencyMs);
        if (s.Channels > 0)
        {
            report.Add("ready_p50", "connect to subscribed ack p50", any ? Clock.NanosToMs(readyLatency.Percentile(0.5)) : null, MetricKind.LatencyMs);
            report.Add("ready_p99", "connect to subscribed ack p99", any ? Clock.NanosToMs(readyLatency.Percentile(0.99)) : null, MetricKind.LatencyMs);
        }

        report.Add("alive_after_hold", "connections alive after the hold", alive, MetricKind.Count);
        report.Add("lost_during_hold", "connections lost during the hold", lostDuringHold, MetricKind.Count);
        report.Add("close_s", "time to close all", closeSeconds, MetricKind.Seconds);
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);

        if (ctx.Sampler.HasServer)
        {
            double cpuRamp = (rampSample.ServerCpuTicks - before.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond;
            report.Add("server_cpu_ramp_s", "server CPU time during the ramp", cpuRamp, MetricKind.Seconds);
            if (connections.Count > 0)
            {
                report.Add("server_cpu_us_per_handshake", "server CPU per handshake", cpuRamp * 1e6 / connections.Count, MetricKind.Micros);
                double userRamp = (rampSample.ServerUserTicks - before.ServerUserTicks) / ProcSampler.ClockTicksPerSecond;
                report.Add("server_user_us_per_handshake", "  of which user space", userRamp * 1e6 / connections.Count, MetricKind.Micros);
                report.Add("server_sys_us_per_handshake", "  of which kernel", (cpuRamp - userRamp) * 1e6 / connections.Count, MetricKind.Micros);
            }

            report.Add("server_rss_before", "server RSS before the ramp", before.ServerRssKb * 1024.0, MetricKind.Bytes);
            report.Add("server_rss_after", "server RSS after the hold", after.ServerRssKb * 1024.0, MetricKind.Bytes);
            if (alive > 0)
            {
                report.Add("mem_per_conn", "server memory per connection", (after.ServerRssKb - before.ServerRssKb) * 1024.0 / alive, MetricKind.Bytes, "(RSS after hold − RSS before ramp) / connections alive");
            }
        }
        else
        {
            report.Warnings.Add("no --server-pid: server memory per connection was not measured");
        }

        double toolCpu = (rampSample.SelfCpuTicks - before.SelfCpuTicks) / ProcSampler.ClockTicksPerSecond;
        report.Add("tool_cpu_ramp_pct", "load tool CPU during the ramp", toolCpu / rampSeconds * 100, MetricKind.Percent, $"of {Environment.ProcessorCount * 100} available");
        report.Add("tool_rss", "load tool RSS after the hold", after.SelfRssKb * 1024.0, MetricKind.Bytes);
        if (toolCpu / rampSeconds >= 0.85 * Environment.ProcessorCount && rampSeconds > 1)
        {
            report.Warnings.Add("the load tool was near CPU saturation during the ramp: handshakes/s may be limited by the tool");
        }

        // Series.
        int length = Math.Min(maxSeconds, (int)Math.Ceiling(after.Seconds) + 1);
        SeriesColumn handshakes = report.AddSeries("handshakes", "handshakes/s", length);
        SeriesColumn openColumn = report.AddSeries("open", "connections open", length);
        long cumulative = 0;
        for (int i = 0; i < length; i++)
        {
            handshakes.Values[i] = perSecond[i];
            cumulative += perSecond[i];
            openColumn.Values[i] = cumulative;
        }

        report.Charts.Add(new ChartSpec("Handshakes per second", "/s", ["handshakes"]));
        report.Charts.Add(new ChartSpec("Connections opened (cumulative)", "connections", ["open"]));
        ProcReport.AddSeries(report, ctx.Sampler, length);
        return report;
    }

    /// <summary>Idle connections: count what the server says and when it drops one.</summary>
    private sealed class IdleSink : IConnectionSink
    {
        private readonly ErrorCounter _errors;
        private long _lost;

        public IdleSink(ErrorCounter errors) => _errors = errors;

        public long Lost => Interlocked.Read(ref _lost);

        public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
        {
        }

        public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json) =>
            _errors.Add("server error: " + (ProtocolText.ReadString(json, "\"code\""u8) ?? "error"), System.Text.Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));

        public void OnUnexpectedEnd(WsConnection connection, string kind)
        {
            Interlocked.Increment(ref _lost);
            _errors.Add(kind);
        }
    }
}
