using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>churn</c>: K workers each loop connect → subscribe → wait for the ack (or for one data message with
/// <c>--wait message</c>, while a publisher feeds the channels) → close handshake, for W + D seconds.
/// Cycles finished in the last D seconds are counted; reports cycles/s, cycle latency and errors.
/// </summary>
internal static class ChurnScenario
{
    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        bool waitMessage = s.ChurnWait == ChurnWait.Message;
        var report = new RunReport("churn", s.Url);
        report.Setting("url", s.Url);
        ScenarioContext.AddUrlSettings(report, s);
        if (s.TlsDescription is not null)
        {
            report.Setting("tls", s.TlsDescription);
        }

        report.Setting("concurrency (workers)", s.Concurrency);
        report.Setting("cycle waits for", waitMessage ? "first data message" : "subscribe ack");
        report.Setting("channels", s.Channels);
        if (waitMessage)
        {
            report.Setting("publish rate (msgs/s)", s.Rate);
        }

        report.Setting("subscribe via", s.SubscribeVia.ToString().ToLowerInvariant());
        report.Setting("receive buffer (bytes per connection)", s.ReceiveBuffer);
        report.Setting("warmup (s)", s.Warmup);
        report.Setting("duration (s)", s.Duration);
        report.Setting("server pid", s.ServerPidText);
        report.WarmupSeconds = s.Warmup;

        IReadOnlyList<string> channels = s.ChannelNames(Math.Max(1, s.Channels));
        var sink = new ChurnSink(ctx.Errors);
        ConnectionOptions options = ctx.Options(s.ReceiveBuffer);
        int maxSeconds = (int)Math.Ceiling(s.Warmup + s.Duration + s.Grace) + 15;
        long t0 = Clock.Now + Clock.FromSeconds(0.05);
        long windowStart = t0 + Clock.FromSeconds(s.Warmup);
        long end = windowStart + Clock.FromSeconds(s.Duration);
        using var metrics = new ReceiveMetrics(1, t0, maxSeconds, s.OnTimeMs) { WindowStart = windowStart, WindowEnd = end };

        // With --wait message, a publisher keeps every channel fed.
        Publisher? publisher = null;
        WsConnection? publisherConnection = null;
        if (waitMessage)
        {
            publisherConnection = await ctx.OpenAsync(-1, new ConnectionSpec(null, 0, -1, ctx.Options(16 * 1024)), sink, null, ctx.Stop).ConfigureAwait(false);
            if (publisherConnection is null)
            {
                report.FatalError = "the publisher connection could not be opened";
                report.Errors = [.. ctx.Errors.Snapshot()];
                return report;
            }

            publisher = new Publisher(new WebSocketPublishTransport([publisherConnection], channels, new PayloadFactory(s.Payload)), channels.Count, s.Rate, metrics, ctx.Errors);
            // Keep feeding through the grace period so cycles in flight at the end still get their message.
            publisher.Start(t0, end + Clock.FromSeconds(s.Grace), ctx.Stop);
        }

        var perSecond = new long[maxSeconds];
        long failedPerWindow = 0;
        long cycles = 0;
        long started = 0;
        ctx.Sampler.Start(t0, (prev, sample) =>
        {
            int second = (int)Math.Round(sample.Seconds) - 1;
            if (s.Progress && second >= 0 && second < maxSeconds)
            {
                string phase = second < s.Warmup ? "warmup " : "measure";
                string server = ctx.Sampler.HasServer ? $"  server CPU {(sample.ServerCpuTicks - prev.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond / Math.Max(0.1, sample.Seconds - prev.Seconds) * 100,5:F1}%  server RSS {sample.ServerRssKb / 1024.0,7:F1} MB" : "";
                ScenarioContext.Log($"[{second + 1,4}s] {phase}  cycles {Interlocked.Read(ref perSecond[second]),6:N0}/s{server}  errors {ctx.Errors.Total}");
            }
        });
        report.StartedAt = DateTimeOffset.UtcNow;
        ScenarioContext.Log($"churning with {s.Concurrency} worker(s) against {s.Url} for {s.Warmup + s.Duration} s ...");

        // Cycles still in flight after the window get the grace period to finish, then are abandoned (not errors).
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(ctx.Stop);
        drain.CancelAfter(TimeSpan.FromSeconds(Clock.ToSeconds(end - Clock.Now) + s.Grace));
        ProcSample? startSample = null;
        var workers = new Task<LatencyHistogram>[s.Concurrency];
        for (int w = 0; w < workers.Length; w++)
        {
            int worker = w;
            workers[w] = Task.Run(async () =>
            {
                var latency = new LatencyHistogram();
                int channel = worker % channels.Count;
                int id = worker;
                while (!ctx.Stop.IsCancellationRequested)
                {
                    long begin = Clock.Now;
                    if (begin >= end)
                    {
                        break;
                    }

                    if (begin < t0)
                    {
                        await ScenarioContext.DelayUntilAsync(t0, ctx.Stop).ConfigureAwait(false);
                        continue;
                    }

                    Interlocked.Increment(ref started);
                    id += workers.Length;
                    bool ok = false;
                    WsConnection? connection = await ctx.OpenAsync(id, new ConnectionSpec(channels[channel], channel, 0, options, ExpectData: waitMessage), sink, null, drain.Token).ConfigureAwait(false);
                    if (connection is not null)
                    {
                        try
                        {
                            if (waitMessage)
                            {
                                await connection.WaitDataAsync(TimeSpan.FromSeconds(s.ConnectTimeout), drain.Token).ConfigureAwait(false);
                            }

                            await connection.CloseAsync(drain.Token).ConfigureAwait(false);
                            ok = true;
                        }
                        catch (HandshakeException ex)
                        {
                            ctx.Errors.Add(ex.Kind, ex.Message);
                        }
                        catch (OperationCanceledException)
                        {
                            // Stopping.
                        }
                        finally
                        {
                            connection.Dispose();
                        }
                    }

                    long done = Clock.Now;
                    if (begin >= windowStart && done <= end + Clock.FromSeconds(s.Grace))
                    {
                        if (ok)
                        {
                            Interlocked.Increment(ref cycles);
                            latency.Record(Clock.ToNanos(done - begin));
                        }
                        else if (!drain.IsCancellationRequested)
                        {
                            Interlocked.Increment(ref failedPerWindow);
                        }
                    }

                    if (ok)
                    {
                        int second = (int)Clock.ToSeconds(done - t0);
                        if ((uint)second < (uint)maxSeconds)
                        {
                            Interlocked.Increment(ref perSecond[second]);
                        }
                    }
                    else if (!drain.IsCancellationRequested)
                    {
                        // Do not hammer a refusing server in a tight loop.
                        await Task.Delay(10).ConfigureAwait(false);
                    }
                }

                return latency;
            });
        }

        bool completed = await ScenarioContext.DelayUntilAsync(windowStart, ctx.Stop).ConfigureAwait(false);
        startSample = ctx.Sampler.Sample();
        if (completed)
        {
            completed = await ScenarioContext.DelayUntilAsync(end, ctx.Stop).ConfigureAwait(false);
        }

        long windowEnd = Math.Min(Clock.Now, end);
        ProcSample endSample = ctx.Sampler.Sample();
        if (!completed)
        {
            report.Partial = true;
            report.StopReason = "stopped by signal";
        }

        LatencyHistogram[] histograms = await Task.WhenAll(workers).ConfigureAwait(false);
        publisher?.Join(TimeSpan.FromSeconds(5));
        if (publisherConnection is not null)
        {
            await publisherConnection.CloseAsync().ConfigureAwait(false);
        }

        report.FinishedAt = DateTimeOffset.UtcNow;
        var total = new LatencyHistogram();
        foreach (LatencyHistogram h in histograms)
        {
            total.Add(h);
        }

        double windowSeconds = Math.Max(1e-3, Clock.ToSeconds(windowEnd - windowStart));
        report.MeasuredEndSeconds = Clock.ToSeconds(windowEnd - t0);
        report.Add("cycles", "cycles completed in window", cycles, MetricKind.Count);
        report.Add("cycles_rate", "cycles/s", windowEnd > windowStart ? cycles / windowSeconds : null, MetricKind.Rate, "connect + upgrade + subscribe + " + (waitMessage ? "first message" : "ack") + " + close");
        report.Add("failed_cycles", "failed cycles in window", failedPerWindow, MetricKind.Count);
        bool any = total.TotalCount > 0;
        report.Add("cycle_p50", "cycle time p50", any ? Clock.NanosToMs(total.Percentile(0.5)) : null, MetricKind.LatencyMs);
        report.Add("cycle_p99", "cycle time p99", any ? Clock.NanosToMs(total.Percentile(0.99)) : null, MetricKind.LatencyMs);
        report.Add("cycle_max", "cycle time max", any ? Clock.NanosToMs(total.Max) : null, MetricKind.LatencyMs);
        report.Add("cycles_started", "cycles started (incl. warm-up)", Interlocked.Read(ref started), MetricKind.Count);
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);
        ProcReport.Add(report, ctx.Sampler, startSample ?? endSample, endSample, null);
        if (ctx.Sampler.HasServer && cycles > 0)
        {
            double cpu = (endSample.ServerCpuTicks - (startSample ?? endSample).ServerCpuTicks) / ProcSampler.ClockTicksPerSecond;
            report.Add("server_cpu_us_per_cycle", "server CPU per cycle", cpu * 1e6 / cycles, MetricKind.Micros);
        }

        int length = Math.Min(maxSeconds, (int)Math.Ceiling(Clock.ToSeconds(Clock.Now - t0)));
        SeriesColumn column = report.AddSeries("cycles", "cycles/s", length);
        for (int i = 0; i < length; i++)
        {
            column.Values[i] = perSecond[i];
        }

        report.Charts.Add(new ChartSpec("Cycles per second", "/s", ["cycles"]));
        ProcReport.AddSeries(report, ctx.Sampler, length);
        return report;
    }

    private sealed class ChurnSink : IConnectionSink
    {
        private readonly ErrorCounter _errors;

        public ChurnSink(ErrorCounter errors) => _errors = errors;

        public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
        {
        }

        public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json) =>
            _errors.Add((connection.Group < 0 ? "publisher: " : "") + "server error: " + (ProtocolText.ReadString(json, "\"code\""u8) ?? "error"), System.Text.Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));

        public void OnUnexpectedEnd(WsConnection connection, string kind) => _errors.Add((connection.Group < 0 ? "publisher: " : "") + kind);
    }
}
