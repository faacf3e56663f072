using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>history-memory</c> (issue 17): what a channel's history costs. Fills M new channels of a namespace that keeps a
/// history (<c>trades:</c> by default: 1,000 messages for 5 minutes) with N messages of B bytes each through
/// <c>POST /api/publish</c> (JSON arrays, round robin over the channels), with nobody subscribed (the namespace's
/// retention keeps them), reads <c>/ws/stats</c> (history, memory) and the server's RSS before and after, and reports
/// the bytes per channel and per kept message and their overhead over the data bytes.
/// </summary>
internal static class HistoryMemoryScenario
{
    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport("history-memory", s.Url);
        string tag = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        string Channel(int i) => s.ChannelPrefix + "hm-" + tag + "-" + i.ToString(CultureInfo.InvariantCulture);
        report.Setting("publish url", s.HttpUrl!.ToString());
        report.Setting("stats url", s.StatsUrl?.ToString() ?? "-");
        report.Setting("channels", $"{s.Channels} new ones ({Channel(0)} .. {Channel(s.Channels - 1)})");
        report.Setting("messages per channel", s.Messages);
        report.Setting("payload (bytes of data)", s.Payload);
        report.Setting("messages per request", s.Batch);
        report.Setting("settle before the last reading (s)", s.Hold);
        report.Setting("longest fill (s)", s.Duration);
        report.Setting("server pid", s.ServerPidText);

        if (s.StatsUrl is null)
        {
            report.FatalError = "no stats URL (give --stats-url)";
            return report;
        }

        using var stats = new StatsReader(s.StatsUrl);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, MaxConnectionsPerServer = 1 }) { Timeout = TimeSpan.FromSeconds(30) };
        var payload = new PayloadFactory(s.Payload);
        report.Setting("data bytes per message", payload.DataBytes);

        long t0 = Clock.Now;
        ctx.Sampler.Start(t0, null);
        ProcSample beforeSample = ctx.Sampler.Sample();
        (ServerStats? before, string? error) = await stats.ReadAsync(ctx.Stop).ConfigureAwait(false);
        if (before is null)
        {
            report.FatalError = "cannot read the server's stats: " + error;
            report.Errors = [.. ctx.Errors.Snapshot()];
            return report;
        }

        // Fill: message n goes to every channel before message n+1, as a live feed would; up to --batch messages (and
        // about 1 MiB) per request.
        byte[][] prefixes = Enumerable.Range(0, s.Channels).Select(i => Encoding.UTF8.GetBytes("{\"channel\":\"" + Channel(i) + "\",\"data\":")).ToArray();
        var body = new ArrayBufferWriter<byte>(1024 * 1024 + 4096);
        long total = (long)s.Channels * s.Messages;
        long sent = 0, requests = 0;
        long fillDeadline = t0 + Clock.FromSeconds(s.Duration);
        ScenarioContext.Log($"publishing {total:N0} messages ({s.Channels:N0} channels × {s.Messages:N0}) of {payload.DataBytes} bytes to {s.HttpUrl} ...");
        long fillStart = Clock.Now;
        while (sent < total && !ctx.Stop.IsCancellationRequested)
        {
            if (Clock.Now >= fillDeadline)
            {
                report.Partial = true;
                report.StopReason = $"the fill took longer than --duration {s.Duration} s";
                break;
            }

            body.ResetWrittenCount();
            body.Write("["u8);
            long first = sent;
            while (sent < total && sent - first < s.Batch && body.WrittenCount < 1024 * 1024)
            {
                if (sent > first)
                {
                    body.Write(","u8);
                }

                body.Write(prefixes[(int)(sent % s.Channels)]);
                payload.WriteData(body, Clock.Now);
                body.Write("}"u8);
                sent++;
            }

            body.Write("]"u8);
            try
            {
                using var content = new ByteArrayContent(body.WrittenSpan.ToArray());
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var request = new HttpRequestMessage(HttpMethod.Post, s.HttpUrl) { Content = content, Version = HttpVersion.Version11 };
                using HttpResponseMessage response = await client.SendAsync(request, ctx.Stop).ConfigureAwait(false);
                requests++;
                if (!response.IsSuccessStatusCode)
                {
                    string detail = await response.Content.ReadAsStringAsync(CancellationToken.None).ConfigureAwait(false);
                    ctx.Errors.Add($"publish: HTTP {(int)response.StatusCode}", detail[..Math.Min(detail.Length, 300)]);
                    report.FatalError = $"the server refused a publish (HTTP {(int)response.StatusCode}): does the namespace allow HTTP publishing from here?";
                    break;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                if (ctx.Stop.IsCancellationRequested)
                {
                    sent = first;
                    break;
                }

                ctx.Errors.Add("publish: " + ex.GetType().Name, ex.Message);
                report.FatalError = "publishing failed: " + ex.Message;
                break;
            }
        }

        double fillSeconds = Clock.ToSeconds(Clock.Now - fillStart);
        if (ctx.Stop.IsCancellationRequested && !report.Partial)
        {
            report.Partial = true;
            report.StopReason = "stopped by signal";
        }

        ScenarioContext.Log($"published {sent:N0} messages in {fillSeconds:F1} s ({requests:N0} requests); settling {s.Hold} s ...");
        if (s.Hold > 0)
        {
            await ScenarioContext.DelayUntilAsync(Clock.Now + Clock.FromSeconds(s.Hold), ctx.Stop).ConfigureAwait(false);
        }

        ProcSample afterSample = ctx.Sampler.Sample();
        (ServerStats? after, error) = await stats.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        report.FinishedAt = DateTimeOffset.UtcNow;
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("channels", "channels filled", s.Channels, MetricKind.Count);
        report.Add("published", "messages published", sent, MetricKind.Count, $"of {total:N0}");
        report.Add("fill_s", "time to publish them", fillSeconds, MetricKind.Seconds);
        report.Add("publish_rate", "publish rate (HTTP)", fillSeconds > 0 ? sent / fillSeconds : null, MetricKind.Rate, $"{requests:N0} requests");
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);
        if (after is null)
        {
            report.FatalError ??= "cannot read the server's stats after the fill: " + error;
            return report;
        }

        long channels = after.HistoryChannels - before.HistoryChannels;
        long kept = after.HistoryMessages - before.HistoryMessages;
        long data = after.HistoryDataBytes - before.HistoryDataBytes;
        long buffers = after.HistoryBufferBytes - before.HistoryBufferBytes;
        long workingSet = after.WorkingSetBytes - before.WorkingSetBytes;
        long gcHeap = after.GcHeapBytes - before.GcHeapBytes;
        double? PerChannel(double v) => channels > 0 ? v / channels : null;
        double? PerMessage(double v) => kept > 0 ? v / kept : null;
        report.Add("history_channels", "channels with a history (added)", channels, MetricKind.Count, "/ws/stats history.channels");
        report.Add("kept_messages", "messages kept (added)", kept, MetricKind.Count, "/ws/stats history.messages");
        report.Add("data_bytes", "data bytes kept (added)", data, MetricKind.Bytes, "history.dataBytes: the published data");
        report.Add("buffer_bytes", "history buffer bytes (added)", buffers, MetricKind.Bytes, "history.bufferBytes: the pooled buffers holding the messages");
        report.Add("buffer_per_channel", "history buffers per channel", PerChannel(buffers), MetricKind.Bytes);
        report.Add("buffer_per_message", "history buffers per kept message", PerMessage(buffers), MetricKind.Bytes);
        report.Add("buffer_overhead", "history buffers / data bytes", data > 0 ? buffers / (double)data : null, MetricKind.Ratio, "1.0 = no overhead");
        report.Add("working_set_growth", "server working set growth", workingSet, MetricKind.Bytes, "/ws/stats memory.workingSetBytes, after − before");
        report.Add("working_set_per_channel", "working set growth per channel", PerChannel(workingSet), MetricKind.Bytes, "everything: channel state, history, pools, heap slack");
        report.Add("working_set_per_message", "working set growth per kept message", PerMessage(workingSet), MetricKind.Bytes);
        report.Add("working_set_overhead", "working set growth / data bytes", data > 0 ? workingSet / (double)data : null, MetricKind.Ratio);
        report.Add("gc_heap_growth", "server GC heap growth", gcHeap, MetricKind.Bytes, "memory.gcHeapBytes (as of the last GC), after − before");
        report.Add("gc_heap_per_channel", "GC heap growth per channel", PerChannel(gcHeap), MetricKind.Bytes);
        report.Add("server_working_set", "server working set after", after.WorkingSetBytes, MetricKind.Bytes);
        report.Add("server_gc_heap", "server GC heap after (last GC)", after.GcHeapBytes, MetricKind.Bytes);
        if (ctx.Sampler.HasServer)
        {
            long rss = (afterSample.ServerRssKb - beforeSample.ServerRssKb) * 1024;
            report.Add("server_rss_before", "server RSS before", beforeSample.ServerRssKb * 1024.0, MetricKind.Bytes, "/proc VmRSS");
            report.Add("server_rss_after", "server RSS after", afterSample.ServerRssKb * 1024.0, MetricKind.Bytes);
            report.Add("rss_per_channel", "server RSS growth per channel", PerChannel(rss), MetricKind.Bytes);
            double cpu = (afterSample.ServerCpuTicks - beforeSample.ServerCpuTicks) / ProcSampler.ClockTicksPerSecond;
            report.Add("server_cpu_s", "server CPU time (fill and settle)", cpu, MetricKind.Seconds);
        }

        if (before.HistoryChannels > 0)
        {
            report.Warnings.Add($"the server already held {before.HistoryChannels:N0} channel(s) with a history ({before.HistoryMessages:N0} messages) before the fill: the figures are the growth; working set and GC heap include whatever else the server did meanwhile");
        }

        if (sent > 0 && channels < Math.Min(s.Channels, sent))
        {
            report.Warnings.Add($"only {channels:N0} of {s.Channels:N0} channels show a history: does the namespace keep one (History:Size > 0 or Snapshot) with a Retention, so that a publish creates the channel?");
        }

        if (sent > 0 && kept < sent)
        {
            report.Warnings.Add($"{sent - kept:N0} published message(s) are not kept: the namespace's History:Size, MaxBytes or MaxAge is below what was published per channel");
        }

        if (after.GcHeapBytes == 0)
        {
            report.Warnings.Add("memory.gcHeapBytes is 0: the server has not collected yet, so the GC heap figures say nothing");
        }

        return report;
    }
}
