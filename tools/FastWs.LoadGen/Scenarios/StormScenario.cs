using System.Net;
using System.Runtime;
using FastWs.Client;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>storm</c> (issue 19): N clients of the .NET client library (FastWs.Client) on channels with history, a publisher
/// running, then every client's connection reset at once by the relay in front of the server (an outage of the network,
/// not of the server: history and epochs stay). Each client comes back by its own backoff (full jitter over the first
/// window W), so the handshakes spread over W instead of arriving in one burst. Reports the handshakes per second after
/// the drop (client side, aligned to the drop; and the server's own connection count from /ws/stats), the spread of
/// the reconnects, and every client's stream checked for gaps, duplicates and resets.
/// The bound checked: peak handshakes in any second after the drop ≤ 1.5 × N / W (<c>peak_ratio&lt;=1.5</c>; a uniform
/// spread gives about 1 + 3/√(N/W)).
/// </summary>
internal static class StormScenario
{
    /// <summary>Pass/fail rules every storm run is judged by, on top of any --threshold (a --threshold on the same metric replaces its rule).</summary>
    public static readonly IReadOnlyList<string> RequiredThresholds =
        ["gaps==0", "duplicates==0", "resets==0", "behind_at_end==0", "not_reconnected==0", "peak_ratio<=1.5", "server_peak_ratio<=1.5"];

    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport("storm", s.Url);
        int perClient = Math.Min(s.ChannelsPerSubscriber, s.Channels);
        report.Setting("url", s.Url);
        report.Setting("clients", s.Subscribers);
        report.Setting("channels", $"{s.Channels} ({s.ChannelPrefix}1..{s.Channels})");
        report.Setting("channels per client", perClient);
        report.Setting("rate (msgs/s published)", s.Rate);
        report.Setting("payload (bytes of data)", s.Payload);
        report.Setting("backoff window W (s)", s.Window);
        report.Setting("jitter", s.Jitter ? "full (delay = random × W for the first attempt)" : "off (every client at once: the burst the backoff prevents)");
        report.Setting("warmup before the drop (s)", s.Warmup);
        report.Setting("after the drop (s)", s.Duration);
        report.Setting("client", "FastWs.Client (ClientWebSocket), one per simulated client, through a TCP relay that resets them all at once");
        report.WarmupSeconds = s.Warmup;
        report.Setting("load average at start", LoadAverage());

        // 1. The relay in front of the server, and the clients behind it.
        await using var relay = new DropProxy(s.Endpoint.EndPoint);
        relay.Start();
        var relayed = new UriBuilder(s.Endpoint.Uri) { Host = "127.0.0.1", Port = relay.EndPoint.Port }.Uri;
        IReadOnlyList<string> channels = s.ChannelNames(s.Channels);
        var clients = new StormClient[s.Subscribers];
        // One HTTP handler for every client's upgrade requests: the simulated clients share a process, not a handler
        // each (a fleet would have one per process anyway).
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false });
        for (int i = 0; i < clients.Length; i++)
        {
            clients[i] = new StormClient(i, new FastWsClient(relayed, ClientOptions(s, invoker)), [.. Enumerable.Range(0, perClient).Select(j => channels[(i + j) % channels.Count])]);
        }

        ScenarioContext.Log($"connecting {clients.Length:N0} client(s), {perClient} of {s.Channels} channel(s) each, through a relay to {s.Url} ...");
        long connectStart = Clock.Now;
        await Parallel.ForEachAsync(clients, new ParallelOptions { MaxDegreeOfParallelism = s.ConnectConcurrency, CancellationToken = CancellationToken.None }, async (client, _) =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ctx.Stop);
            timeout.CancelAfter(TimeSpan.FromSeconds(s.ConnectTimeout));
            try
            {
                await client.StartAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or FastWsException)
            {
                ctx.Errors.Add("connect: " + (ex is FastWsException f ? f.Code : "timeout"), ex.Message);
            }
        }).ConfigureAwait(false);
        int connected = clients.Count(c => c.Ready);
        double connectSeconds = Clock.ToSeconds(Clock.Now - connectStart);
        ScenarioContext.Log($"{connected:N0} client(s) subscribed in {connectSeconds:F1} s ({ctx.Errors.Total} error(s))");
        if (connected < clients.Length || ctx.Stop.IsCancellationRequested)
        {
            report.FatalError = connected == 0 ? "no client could connect and subscribe" : null;
            report.Partial = true;
            report.StopReason = ctx.Stop.IsCancellationRequested ? "stopped while connecting" : $"only {connected} of {clients.Length} clients connected";
            report.Errors = [.. ctx.Errors.Snapshot()];
            await DisposeAllAsync(clients).ConfigureAwait(false);
            return report;
        }

        // 2. The publisher, straight to the server (the outage is the clients').
        var sink = new PublisherSink(ctx.Errors);
        WsConnection? publisherConnection = await ctx.OpenAsync(-1, new ConnectionSpec(null, 0, -1, ctx.Options(16 * 1024)), sink, null, ctx.Stop).ConfigureAwait(false);
        if (publisherConnection is null)
        {
            report.FatalError = "the publisher connection could not be opened";
            report.Errors = [.. ctx.Errors.Snapshot()];
            await DisposeAllAsync(clients).ConfigureAwait(false);
            return report;
        }

        var payload = new PayloadFactory(s.Payload);
        int maxSeconds = (int)Math.Ceiling(s.Warmup + s.Duration + s.Grace) + 3;
        long t0 = Clock.Now + Clock.FromSeconds(0.05);
        long dropAt = t0 + Clock.FromSeconds(s.Warmup);
        long end = dropAt + Clock.FromSeconds(s.Duration);
        using var metrics = new ReceiveMetrics(1, t0, maxSeconds, 100);
        var publisher = new Publisher(new WebSocketPublishTransport([publisherConnection], channels, payload), channels.Count, s.Rate, metrics, ctx.Errors);
        var checks = clients.SelectMany(c => c.Streams).ToArray();
        Task[] readers = [.. checks.Select(check => Task.Run(check.ReadAsync))];

        // The server's own count of accepted connections, once a second (FastWs answers /ws/stats on its WebSocket port).
        using var stats = s.StatsUrl is null ? null : new StatsReader(s.StatsUrl);
        var serverSamples = new List<(long At, ServerStats Stats)>();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ctx.Stop);
        Task sampler = stats is null ? Task.CompletedTask : SampleServerAsync(stats, serverSamples, ctx, sampling.Token);

        ctx.Sampler.Start(t0, (_, sample) =>
        {
            if (!s.Progress)
            {
                return;
            }

            long now = Clock.Now;
            int back = clients.Count(c => c.ReconnectedAt != 0);
            string phase = now < dropAt ? "steady " : "storm  ";
            ScenarioContext.Log($"[{sample.Seconds,4:F0}s] {phase} open {clients.Count(c => c.Client.IsConnected),6:N0}  reconnected {back,6:N0}/{(now < dropAt ? 0 : clients.Length):N0}  relay accepted {relay.Accepted,7:N0}  gaps {checks.Sum(c => c.Gaps)}  dups {checks.Sum(c => c.Duplicates)}  resets {checks.Sum(c => c.Resets)}  errors {ctx.Errors.Total}");
        });
        report.StartedAt = DateTimeOffset.UtcNow;
        publisher.Start(t0, end, ctx.Stop);

        // 3. The outage: every connection reset at once.
        bool completed = await ScenarioContext.DelayUntilAsync(dropAt, ctx.Stop).ConfigureAwait(false);
        ProcSample startSample = ctx.Sampler.Sample();
        long relayBefore = relay.Accepted;
        long droppedAt = Clock.Now;
        foreach (StormClient client in clients)
        {
            client.DropAt = droppedAt;
        }

        // All the simulated clients share this process and its garbage collector: a blocking full collection while they
        // wait out their delays would hold every timer back and release them together, a burst no fleet of separate
        // clients makes. No full collections from the drop to the end of the window (workstation GC's LowLatency mode;
        // the younger generations are still collected), the usual mode again afterwards.
        GCLatencyMode gcMode = GCSettings.LatencyMode;
        GCSettings.LatencyMode = GCLatencyMode.LowLatency;
        int dropped = completed ? relay.DropAll() : 0;
        ScenarioContext.Log($"dropped {dropped:N0} connection(s) at once; the clients come back by their backoff over {s.Window} s");
        if (completed)
        {
            completed = await ScenarioContext.DelayUntilAsync(end, ctx.Stop).ConfigureAwait(false);
        }

        ProcSample endSample = ctx.Sampler.Sample();
        GCSettings.LatencyMode = gcMode;
        ctx.JoinPublisher(publisher, report);

        // 4. Drain: clients still on their way back get --grace plus one connect timeout (on a loaded machine the last
        // may notice the drop seconds late, and its window starts then); every stream should end at the channel's last seq.
        long drainDeadline = Clock.Now + Clock.FromSeconds(s.Grace + s.ConnectTimeout);
        while (Clock.Now < drainDeadline && (Behind(checks).Streams > 0 || clients.Any(c => c.ReconnectedAt == 0)) && !ctx.Stop.IsCancellationRequested)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        (int behindStreams, long behindMessages) = Behind(checks);
        await sampling.CancelAsync().ConfigureAwait(false);
        await sampler.ConfigureAwait(false);
        ScenarioContext.Log($"closing {clients.Length + 1:N0} connection(s) ...");
        await DisposeAllAsync(clients).ConfigureAwait(false);
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await ScenarioContext.CloseAllAsync([publisherConnection], TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        report.FinishedAt = DateTimeOffset.UtcNow;
        report.Setting("load average at end", LoadAverage());
        if (!completed)
        {
            report.Partial = true;
            report.StopReason ??= "stopped by signal";
        }

        // 5. Report.
        double perWindow = clients.Length / s.Window;
        int afterSeconds = (int)Math.Ceiling(s.Duration);
        long[] handshakes = new long[afterSeconds + 1];
        var offsets = new List<double>();
        foreach (StormClient client in clients)
        {
            if (client.ReconnectedAt != 0)
            {
                double offset = Clock.ToSeconds(client.ReconnectedAt - droppedAt);
                offsets.Add(offset);
                handshakes[Math.Clamp((int)offset, 0, afterSeconds)]++;
            }
        }

        offsets.Sort();
        long peak = handshakes.Length > 0 ? handshakes.Max() : 0;
        int notReconnected = clients.Count(c => c.ReconnectedAt == 0);
        double serverPeak = ServerPeak(serverSamples, droppedAt, end);
        report.Add("clients", "clients connected before the drop", connected, MetricKind.Count, $"of {s.Subscribers} requested");
        report.Add("connect_s", "time to connect and subscribe all", connectSeconds, MetricKind.Seconds);
        report.Add("drops", "connections reset at once", dropped, MetricKind.Count, "by the relay: an RST to both sides, no close frame");
        report.Add("reconnects", "clients back (connected again)", offsets.Count, MetricKind.Count);
        report.Add("not_reconnected", "clients not back by the end", notReconnected, MetricKind.Count, "fails the run");
        report.Add("attempts", "connection attempts after the drop", relay.Accepted - relayBefore, MetricKind.Count, "TCP connections the relay accepted");
        report.Add("peak_handshakes", "peak handshakes in one second", peak, MetricKind.Rate, "client side, seconds counted from the drop");
        report.Add("bound_handshakes", "bound: 1.5 × N / W", 1.5 * perWindow, MetricKind.Rate, $"N/W = {perWindow:N0}/s");
        report.Add("peak_ratio", "peak ÷ (N / W)", perWindow > 0 ? peak / perWindow : null, MetricKind.Ratio, "at most 1.5, or the run fails");
        report.Add("server_peak_handshakes", "server: peak connections accepted per second", stats is null ? null : serverPeak, MetricKind.Rate, "from /ws/stats connectionsTotal, sampled about each second (not aligned to the drop)");
        report.Add("server_peak_ratio", "server: peak ÷ (N / W)", stats is null || perWindow <= 0 ? null : serverPeak / perWindow, MetricKind.Ratio, "at most 1.5, or the run fails");
        (ServerStats? firstStats, ServerStats? lastStats) = serverSamples.Count > 1 ? (serverSamples[0].Stats, serverSamples[^1].Stats) : (null, null);
        report.Add("server_recoveries", "server: channels recovered with since", lastStats is null ? null : lastStats.Recoveries - firstStats!.Recoveries, MetricKind.Count, "/ws/stats recoveries over the run");
        report.Add("server_recovery_failures", "server: channels not recovered", lastStats is null ? null : lastStats.RecoveryFailures - firstStats!.RecoveryFailures, MetricKind.Count);
        report.Add("server_replayed", "server: messages replayed from history", lastStats is null ? null : lastStats.MessagesReplayed - firstStats!.MessagesReplayed, MetricKind.Count);
        double[] noticed = [.. clients.Where(c => c.ClosedAt != 0).Select(c => Clock.ToSeconds(c.ClosedAt - droppedAt)).Order()];
        report.Add("noticed_last_s", "last client to see the drop after", noticed.Length > 0 ? noticed[^1] : null, MetricKind.Seconds, $"p50 {(noticed.Length > 0 ? noticed[noticed.Length / 2] : 0):F2} s; its backoff delay starts then");
        report.Add("reconnect_first_s", "first client back after", offsets.Count > 0 ? offsets[0] : null, MetricKind.Seconds);
        report.Add("reconnect_p50_s", "half the clients back after", offsets.Count > 0 ? offsets[offsets.Count / 2] : null, MetricKind.Seconds);
        report.Add("reconnect_last_s", "last client back after", offsets.Count > 0 ? offsets[^1] : null, MetricKind.Seconds, $"the window is {s.Window} s");
        report.Add("published", "published", publisher.PublishedTotal, MetricKind.Count);
        report.Add("received", "data messages received", checks.Sum(c => c.Received), MetricKind.Count, "all clients, replayed included");
        report.Add("gaps", "gaps", checks.Sum(c => c.Gaps), MetricKind.Count, "fails the run");
        report.Add("missing", "messages missing by the gaps", checks.Sum(c => c.Missing), MetricKind.Count);
        report.Add("duplicates", "duplicates and messages out of order", checks.Sum(c => c.Duplicates), MetricKind.Count, "fails the run");
        report.Add("resets", "streams reset (notRecovered)", checks.Sum(c => c.Resets), MetricKind.Count, "the server kept the history, so fails the run");
        report.Add("gap_notices", "gap notices and holes recovered by the client", clients.Sum(c => c.GapEvents), MetricKind.Count);
        report.Add("behind_at_end", "streams behind the channel's last seq at the end", behindStreams, MetricKind.Count, behindStreams > 0 ? $"{behindMessages:N0} message(s) short; fails the run" : "fails the run");
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);
        ProcReport.Add(report, ctx.Sampler, startSample, endSample, null, "after the drop");

        string? example = checks.Select(c => c.FirstProblem).FirstOrDefault(p => p is not null);
        if (example is not null)
        {
            report.Warnings.Add(example);
        }

        // Handshakes per second since the drop (second 0 = the drop).
        SeriesColumn perSecond = report.AddSeries("handshakes", "handshakes/s after the drop", handshakes.Length);
        for (int i = 0; i < handshakes.Length; i++)
        {
            perSecond.Values[i] = handshakes[i];
        }

        ScenarioContext.Log("handshakes per second after the drop: " + string.Join(" ", handshakes));
        return report;
    }

    /// <summary>/proc/loadavg's first three fields: on a shared machine, how busy it was around the run.</summary>
    private static string LoadAverage()
    {
        try
        {
            string[] fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(" ", fields.Take(3)) + $" (1, 5, 15 min; {Environment.ProcessorCount} cores)";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "-";
        }
    }

    private static FastWsClientOptions ClientOptions(RunSettings s, HttpMessageInvoker invoker)
    {
        var options = new FastWsClientOptions
        {
            HttpInvoker = invoker,
            // The first attempt after a drop comes at random × W; later ones (if the first fails) over 2W, 4W, ... 8W.
            Backoff = new BackoffOptions { InitialDelay = TimeSpan.FromSeconds(s.Window), MaxDelay = TimeSpan.FromSeconds(s.Window * 8) },
            ConnectTimeout = TimeSpan.FromSeconds(s.ConnectTimeout),
            RequestTimeout = TimeSpan.FromSeconds(s.ConnectTimeout),
            BufferCapacity = 4096,
        };
        if (!s.Jitter)
        {
            options.Random = () => 0;
        }

        return options;
    }

    private static async Task DisposeAllAsync(StormClient[] clients) =>
        await Parallel.ForEachAsync(clients, new ParallelOptions { MaxDegreeOfParallelism = 256 }, async (client, _) => await client.Client.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false);

    private static async Task SampleServerAsync(StatsReader stats, List<(long At, ServerStats Stats)> samples, ScenarioContext ctx, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            (ServerStats? read, string? error) = await stats.ReadAsync(ct).ConfigureAwait(false);
            if (read is not null)
            {
                lock (samples)
                {
                    samples.Add((Clock.Now, read));
                }
            }
            else if (!ct.IsCancellationRequested)
            {
                ctx.Errors.Add("stats: unreadable", error);
            }

            try
            {
                if (!await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        while (true);
    }

    /// <summary>The highest rate of connections the server accepted between two consecutive samples (about a second apart) after the drop.</summary>
    private static double ServerPeak(List<(long At, ServerStats Stats)> samples, long from, long to)
    {
        double peak = 0;
        lock (samples)
        {
            for (int i = 1; i < samples.Count; i++)
            {
                if (samples[i].At >= from && samples[i - 1].At <= to)
                {
                    double seconds = Math.Max(0.5, Clock.ToSeconds(samples[i].At - samples[i - 1].At));
                    peak = Math.Max(peak, (samples[i].Stats.ConnectionsTotal - samples[i - 1].Stats.ConnectionsTotal) / seconds);
                }
            }
        }

        return peak;
    }

    private static (int Streams, long Messages) Behind(StreamCheck[] checks)
    {
        var last = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (StreamCheck check in checks)
        {
            last[check.Channel] = Math.Max(last.GetValueOrDefault(check.Channel), check.Last);
        }

        int streams = 0;
        long messages = 0;
        foreach (StreamCheck check in checks)
        {
            long missing = last[check.Channel] - check.Last;
            if (missing > 0)
            {
                streams++;
                messages += missing;
            }
        }

        return (streams, messages);
    }

    /// <summary>One simulated client: a FastWs.Client instance, its subscriptions, and when it came back after the drop.</summary>
    private sealed class StormClient
    {
        private long _reconnectedAt;
        private long _closedAt;
        private int _gapEvents;

        public StormClient(int index, FastWsClient client, string[] channels)
        {
            Index = index;
            Client = client;
            Channels = channels;
            client.Opened += (_, e) =>
            {
                if (e.Reconnected && DropAt != 0)
                {
                    Interlocked.CompareExchange(ref _reconnectedAt, Clock.Now, 0);
                }
            };
            client.Gap += (_, _) => Interlocked.Increment(ref _gapEvents);
            client.Closed += (_, _) =>
            {
                if (DropAt != 0)
                {
                    Interlocked.CompareExchange(ref _closedAt, Clock.Now, 0);
                }
            };
        }

        public int Index { get; }

        public FastWsClient Client { get; }

        public string[] Channels { get; }

        public List<StreamCheck> Streams { get; } = [];

        public bool Ready => Streams.Count == Channels.Length;

        /// <summary>When the relay reset every connection (0 before).</summary>
        public long DropAt { get; set; }

        /// <summary>When this client's first connection after the drop was up (its <c>connected</c> message came); 0 while not back.</summary>
        public long ReconnectedAt => Interlocked.Read(ref _reconnectedAt);

        /// <summary>When this client saw its connection end after the drop (its Closed event); 0 before.</summary>
        public long ClosedAt => Interlocked.Read(ref _closedAt);

        public int GapEvents => Volatile.Read(ref _gapEvents);

        public async Task StartAsync(CancellationToken ct)
        {
            await Client.ConnectAsync(ct).ConfigureAwait(false);
            foreach (string channel in Channels)
            {
                FastWsSubscription subscription = await Client.SubscribeAsync(channel, ct).ConfigureAwait(false);
                Streams.Add(new StreamCheck(Index, subscription));
            }
        }
    }

    /// <summary>Checks one client's stream of one channel: every seq once, +1 each time, across the drop; no reset.</summary>
    private sealed class StreamCheck(int client, FastWsSubscription subscription)
    {
        private long _last = subscription.Position?.Seq ?? 0;
        private long _received;
        private long _gaps;
        private long _missing;
        private long _duplicates;
        private long _resets;

        public string Channel => subscription.Channel;

        public long Last => Interlocked.Read(ref _last);

        public long Received => Interlocked.Read(ref _received);

        public long Gaps => Interlocked.Read(ref _gaps);

        public long Missing => Interlocked.Read(ref _missing);

        public long Duplicates => Interlocked.Read(ref _duplicates);

        public long Resets => Interlocked.Read(ref _resets);

        public string? FirstProblem { get; private set; }

        public async Task ReadAsync()
        {
            try
            {
                await foreach (FastWsMessage message in subscription.ConfigureAwait(false))
                {
                    long last = Last;
                    if (message.Kind == FastWsMessageKind.Reset)
                    {
                        Interlocked.Increment(ref _resets);
                        FirstProblem ??= $"client {client} {Channel}: reset from {message.Previous} to {message.Position}";
                        Interlocked.Exchange(ref _last, message.Seq);
                        continue;
                    }

                    Interlocked.Increment(ref _received);
                    if (message.Seq == last + 1 || message.IsSnapshot)
                    {
                        Interlocked.Exchange(ref _last, message.Seq);
                    }
                    else if (message.Seq > last + 1)
                    {
                        Interlocked.Increment(ref _gaps);
                        Interlocked.Add(ref _missing, message.Seq - last - 1);
                        FirstProblem ??= $"client {client} {Channel}: gap, seq {message.Seq} after {last}";
                        Interlocked.Exchange(ref _last, message.Seq);
                    }
                    else
                    {
                        Interlocked.Increment(ref _duplicates);
                        FirstProblem ??= $"client {client} {Channel}: seq {message.Seq} again after {last}";
                    }
                }
            }
            catch (FastWsException ex)
            {
                FirstProblem ??= $"client {client} {Channel}: stream ended: {ex.Code} {ex.Message}";
            }
        }
    }

    /// <summary>The publisher connection's sink: it receives nothing but acks and errors.</summary>
    private sealed class PublisherSink(ErrorCounter errors) : IConnectionSink
    {
        public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
        {
        }

        public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json) =>
            errors.Add("publisher: server error", System.Text.Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));

        public void OnUnexpectedEnd(WsConnection connection, string kind) => errors.Add("publisher: " + kind);
    }
}
