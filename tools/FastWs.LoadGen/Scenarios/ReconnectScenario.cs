using System.Text;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;
using FastWs.LoadGen.Publishing;
using FastWs.LoadGen.Reporting;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// <c>reconnect</c>: S subscribers, each on K of C channels of a namespace with history (<c>trades:</c> by default),
/// while a publisher publishes at R msgs/s. Each subscriber drops its connection without a close frame (a TCP reset)
/// after a random time between --drop-min and --drop-max, stays away --offline seconds, reconnects and resubscribes
/// with <c>since</c> = the last position it holds per channel. A <see cref="StreamChecker"/> per subscriber and
/// channel checks the stream across replay, live and reconnects: seq +1 each time, no gap, no duplicate. Reports
/// drops, reconnects, messages recovered, recovery failures, gaps, duplicates and out-of-order messages (these three,
/// and streams left short at the end, fail the run: see <see cref="RequiredThresholds"/>), live latency and reconnect time.
/// </summary>
internal static class ReconnectScenario
{
    /// <summary>Pass/fail rules every reconnect run is judged by, on top of any --threshold (a --threshold on the same metric replaces its rule).</summary>
    public static readonly IReadOnlyList<string> RequiredThresholds = ["gaps==0", "duplicates==0", "out_of_order==0", "behind_at_end==0"];

    public static async Task<RunReport> RunAsync(ScenarioContext ctx)
    {
        RunSettings s = ctx.Settings;
        var report = new RunReport("reconnect", s.Url);
        report.Setting("url", s.Url);
        ScenarioContext.AddUrlSettings(report, s);
        if (s.TlsDescription is not null)
        {
            report.Setting("tls", s.TlsDescription);
        }

        int perSubscriber = Math.Min(s.ChannelsPerSubscriber, s.Channels);
        report.Setting("subscribers", s.Subscribers);
        report.Setting("channels", $"{s.Channels} ({s.ChannelPrefix}1..{s.Channels})");
        report.Setting("channels per subscriber", perSubscriber);
        report.Setting("rate (msgs/s published)", s.Rate);
        report.Setting("payload (bytes of data)", s.Payload);
        report.Setting("drop after (s)", $"{s.DropMin}-{s.DropMax}, random, no close frame (TCP reset)");
        report.Setting("offline before reconnecting (s)", s.Offline);
        report.Setting("receive buffer (bytes per connection)", s.ReceiveBuffer);
        report.Setting("warmup (s)", s.Warmup);
        report.Setting("duration (s)", s.Duration);
        report.Setting("server pid", s.ServerPidText);
        report.WarmupSeconds = s.Warmup;

        IReadOnlyList<string> channels = s.ChannelNames(s.Channels);
        var subscribers = new Subscriber[s.Subscribers];
        for (int i = 0; i < subscribers.Length; i++)
        {
            subscribers[i] = new Subscriber(i, Enumerable.Range(0, perSubscriber).Select(j => channels[(i + j) % channels.Count]).ToArray());
        }

        var sink = new ReconnectSink(subscribers, ctx.Errors);
        ConnectionOptions options = ctx.Options(s.ReceiveBuffer);

        // 1. Subscribers: the first subscribe, without since.
        ScenarioContext.Log($"connecting {s.Subscribers} subscriber(s), {perSubscriber} of {s.Channels} channel(s) each, to {s.Url} ...");
        long connectStart = Clock.Now;
        WsConnection?[] opened = await ctx.OpenManyAsync(s.Subscribers, i => subscribers[i].BeginJoin(options), sink, rate: 0, onOpened: null, ctx.Stop).ConfigureAwait(false);
        for (int i = 0; i < opened.Length; i++)
        {
            if (opened[i] is null)
            {
                subscribers[i].JoinFailed();
            }
        }

        int connected = opened.Count(c => c is not null);
        double connectSeconds = Clock.ToSeconds(Clock.Now - connectStart);
        ScenarioContext.Log($"{connected} subscriber(s) ready in {connectSeconds:F1} s ({ctx.Errors.Total} error(s))");
        if (connected == 0 || ctx.Stop.IsCancellationRequested)
        {
            report.FatalError = connected == 0 ? "no subscriber could connect and subscribe" : null;
            report.Partial = true;
            report.StopReason = ctx.Stop.IsCancellationRequested ? "stopped while connecting" : "no subscribers";
            report.Errors = [.. ctx.Errors.Snapshot()];
            await ScenarioContext.CloseAllAsync(opened.Where(c => c is not null).Select(c => c!), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return report;
        }

        // 2. The publisher.
        WsConnection? publisherConnection = await ctx.OpenAsync(-1, new ConnectionSpec(null, 0, -1, ctx.Options(16 * 1024)), sink, null, ctx.Stop).ConfigureAwait(false);
        if (publisherConnection is null)
        {
            report.FatalError = "the publisher connection could not be opened";
            report.Partial = true;
            report.Errors = [.. ctx.Errors.Snapshot()];
            await ScenarioContext.CloseAllAsync(opened.Where(c => c is not null).Select(c => c!), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return report;
        }

        publisherConnection.Group = -1;
        var payload = new PayloadFactory(s.Payload);
        report.Setting("data bytes per message", payload.DataBytes);

        // 3. Run: t0, warm-up, measured window; drops and reconnects all along, none starting after the end.
        int maxSeconds = (int)Math.Ceiling(s.Warmup + s.Duration + s.Grace + s.ConnectTimeout) + 3;
        long t0 = Clock.Now + Clock.FromSeconds(0.05);
        long windowStart = t0 + Clock.FromSeconds(s.Warmup);
        long end = windowStart + Clock.FromSeconds(s.Duration);
        using var metrics = new ReceiveMetrics(1, t0, maxSeconds, s.OnTimeMs) { WindowStart = windowStart, WindowEnd = end };
        sink.Metrics = metrics;
        var publisher = new Publisher(new WebSocketPublishTransport([publisherConnection], channels, payload), channels.Count, s.Rate, metrics, ctx.Errors);
        var run = new RunState(ctx, sink, options, t0, end, end + Clock.FromSeconds(s.Grace), maxSeconds);

        var soFar = new LatencySoFar(s.Warmup, second => metrics.Second(0, second).Latency);
        ctx.Sampler.Start(t0, (prev, sample) =>
        {
            int second = (int)Math.Round(sample.Seconds) - 1;
            if (s.Progress && second >= 0)
            {
                (long count, LatencyHistogram latency) = metrics.Second(0, second);
                long p99SoFar = soFar.Through(second).Percentile(0.99);
                long published = (uint)second < (uint)publisher.PerSecond.Length ? publisher.PerSecond[second] : 0;
                string phase = second < s.Warmup ? "warmup " : sample.Seconds <= s.Warmup + s.Duration + 0.5 ? "measure" : "drain  ";
                Totals t = Totals.Of(subscribers);
                ScenarioContext.Log(
                    $"[{second + 1,4}s] {phase}  published {published,7:N0}/s  live {count,9:N0}/s  p99 {Format.Latency(Clock.NanosToMs(latency.Percentile(0.99))),9}  p99 so far {Format.Latency(Clock.NanosToMs(p99SoFar)),9}  drops {Interlocked.Read(ref run.Drops),6:N0}  reconnects {Interlocked.Read(ref run.Reconnects),6:N0}  recovered {t.Replayed,8:N0}  failures {t.RecoveryFailures,4:N0}  gaps {t.Gaps}  dups {t.Duplicates}  ooo {t.OutOfOrder}  errors {ctx.Errors.Total}");
            }
        });
        report.StartedAt = DateTimeOffset.UtcNow;
        publisher.Start(t0, end, ctx.Stop);
        Task<LatencyHistogram>[] loops = subscribers.Select(sub => Task.Run(() => run.SubscriberLoopAsync(sub, opened[sub.Index], s.DropMin, s.DropMax, s.Offline))).ToArray();

        bool completed = await ScenarioContext.DelayUntilAsync(windowStart, ctx.Stop).ConfigureAwait(false);
        ProcSample startSample = ctx.Sampler.Sample();
        if (completed)
        {
            completed = await ScenarioContext.DelayUntilAsync(end, ctx.Stop).ConfigureAwait(false);
        }

        long now = Clock.Now;
        ScenarioContext.CloseWindow(metrics, report, completed, windowStart, end);
        ProcSample endSample = ctx.Sampler.Sample();
        double windowSeconds = Clock.ToSeconds(metrics.WindowEnd - metrics.WindowStart);
        ctx.JoinPublisher(publisher, report);
        if (publisher.FatalError is not null && publisher.PublishedTotal == 0)
        {
            report.FatalError = "nothing could be published: " + publisher.FatalError;
        }

        // Reconnects started before the end finish (each within --connect-timeout); then no more drops.
        LatencyHistogram[] reconnectTimes = await Task.WhenAll(loops).ConfigureAwait(false);

        // 4. Drain: every subscriber of a channel should end at the same seq, the channel's last.
        long drainDeadline = Clock.Now + Clock.FromSeconds(s.Grace);
        while (Clock.Now < drainDeadline && Behind(subscribers).Streams > 0 && !ctx.Stop.IsCancellationRequested)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        double drainSeconds = Clock.ToSeconds(Clock.Now - now);
        (int behindStreams, long behindMessages) = Behind(subscribers);
        List<WsConnection> open = subscribers.Select(sub => sub.Leave()).Where(c => c is not null).Select(c => c!).ToList();
        ScenarioContext.Log($"closing {open.Count + 1} connection(s) ...");
        await ScenarioContext.CloseAllAsync(open.Append(publisherConnection), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        report.FinishedAt = DateTimeOffset.UtcNow;
        report.MeasuredEndSeconds = Clock.ToSeconds(metrics.WindowEnd - t0);

        // 5. Report.
        Totals totals = Totals.Of(subscribers);
        GroupSnapshot live = metrics.Snapshot(0);
        var reconnect = new LatencyHistogram();
        foreach (LatencyHistogram h in reconnectTimes)
        {
            reconnect.Add(h);
        }

        long published = publisher.PublishedInWindow.Sum();
        report.Add("subscribers", "subscribers connected at the start", connected, MetricKind.Count, $"of {s.Subscribers} requested");
        report.Add("connect_s", "time to connect and subscribe all", connectSeconds, MetricKind.Seconds);
        report.Add("window_s", "measured window", windowSeconds, MetricKind.Seconds);
        report.Add("published", "published in window", published, MetricKind.Count);
        report.Add("publish_rate", "publish rate achieved", windowSeconds > 0 ? published / windowSeconds : null, MetricKind.Rate, $"target {s.Rate:N0}/s");
        report.Add("drops", "connections dropped (no close frame)", Interlocked.Read(ref run.Drops), MetricKind.Count);
        report.Add("reconnects", "reconnects (resubscribed with since)", Interlocked.Read(ref run.Reconnects), MetricKind.Count);
        report.Add("reconnect_failed", "reconnect attempts that failed", Interlocked.Read(ref run.FailedJoins), MetricKind.Count, "retried; also errors");
        report.Add("connections_lost", "connections the server or network ended", Interlocked.Read(ref run.Lost), MetricKind.Count, "reconnected like a drop; also errors");
        report.Add("recoveries", "channel streams recovered", totals.Recoveries, MetricKind.Count, "channels listed in recovered");
        report.Add("recovered", "messages recovered (replayed)", totals.Replayed, MetricKind.Count);
        report.Add("recovery_failures", "recovery failures", totals.RecoveryFailures, MetricKind.Count, "channels listed in notRecovered: history did not reach back, or another epoch");
        report.Add("snapshots", "snapshots received", totals.Snapshots, MetricKind.Count, "after a recovery failure, in namespaces with snapshots");
        report.Add("received", "data messages received", totals.Messages, MetricKind.Count, "live, replayed and snapshots, whole run");
        report.Add("gaps", "gaps", totals.Gaps, MetricKind.Count, "seq jumps and gap notices; fails the run");
        report.Add("gap_notices", "gap notices from the server", totals.GapNotices, MetricKind.Count, "included in gaps");
        report.Add("missing", "messages missing by the gaps", totals.Missing, MetricKind.Count);
        report.Add("duplicates", "duplicate messages", totals.Duplicates, MetricKind.Count, "fails the run");
        report.Add("out_of_order", "messages out of order", totals.OutOfOrder, MetricKind.Count, "fails the run");
        report.Add("behind_at_end", "streams behind the channel's last seq at the end", behindStreams, MetricKind.Count, behindStreams > 0 ? $"{behindMessages:N0} message(s) short; fails the run" : "fails the run");
        FanoutScenario.AddLatency(report, live.Window, " (live messages)");
        report.Add("late", $"live messages later than {s.OnTimeMs} ms", live.Late, MetricKind.Count);
        bool anyReconnect = reconnect.TotalCount > 0;
        report.Add("reconnect_p50", "reconnect time p50", anyReconnect ? Clock.NanosToMs(reconnect.Percentile(0.5)) : null, MetricKind.LatencyMs, "connect + upgrade + subscribe with since + ack");
        report.Add("reconnect_p99", "reconnect time p99", anyReconnect ? Clock.NanosToMs(reconnect.Percentile(0.99)) : null, MetricKind.LatencyMs);
        report.Add("reconnect_max", "reconnect time max", anyReconnect ? Clock.NanosToMs(reconnect.Max) : null, MetricKind.LatencyMs);
        report.Add("publisher_max_lag_ms", "publisher max lag behind schedule", publisher.MaxLagMs, MetricKind.LatencyMs);
        report.Add("drain_s", "drain time after the window", drainSeconds, MetricKind.Seconds);
        report.Errors = [.. ctx.Errors.Snapshot()];
        report.Add("errors", "errors", ctx.Errors.Total, MetricKind.Count);
        // No CPU per message: the window's server CPU includes every reconnect's handshake and replay.
        ProcReport.Add(report, ctx.Sampler, startSample, endSample, null);

        foreach (string example in totals.Examples)
        {
            report.Warnings.Add(example);
        }

        if (behindStreams > 0)
        {
            report.Warnings.Add($"{behindStreams} subscriber stream(s) ended {behindMessages:N0} message(s) short of their channel's last seq after the {s.Grace} s grace period");
        }

        if (totals.RecoveryFailures > 0 && totals.Recoveries == 0)
        {
            report.Warnings.Add("no recovery succeeded: does the namespace keep a history (FastWs: History:Size, Retention), and does it reach back over --offline at this rate?");
        }

        // 6. Time series.
        int length = Math.Min(maxSeconds, (int)Math.Ceiling(Clock.ToSeconds(Clock.Now - t0)));
        SeriesColumn pub = report.AddSeries("published", "published/s", length);
        SeriesColumn delivered = report.AddSeries("delivered", "live messages/s", length);
        SeriesColumn reconnects = report.AddSeries("reconnects", "reconnects/s", length);
        SeriesColumn p50 = report.AddSeries("p50_ms", "p50 ms", length);
        SeriesColumn p99 = report.AddSeries("p99_ms", "p99 ms", length);
        SeriesColumn max = report.AddSeries("max_ms", "max ms", length);
        for (int i = 0; i < length; i++)
        {
            pub.Values[i] = publisher.PerSecond[i];
            delivered.Values[i] = live.PerSecondCount[i];
            reconnects.Values[i] = run.ReconnectsPerSecond[i];
            if (live.PerSecondLatency[i] is { TotalCount: > 0 } h)
            {
                p50.Values[i] = Clock.NanosToMs(h.Percentile(0.5));
                p99.Values[i] = Clock.NanosToMs(h.Percentile(0.99));
                max.Values[i] = Clock.NanosToMs(h.Max);
            }
        }

        report.Charts.Add(new ChartSpec("Live messages per second", "msgs/s", ["delivered"]));
        report.Charts.Add(new ChartSpec("Reconnects per second", "/s", ["reconnects"]));
        report.Charts.Add(new ChartSpec("Published per second", "msgs/s", ["published"]));
        report.Charts.Add(new ChartSpec("Latency of live messages per second, by arrival second", "ms", ["p50_ms", "p99_ms"]));
        ProcReport.AddSeries(report, ctx.Sampler, length);
        return report;
    }

    /// <summary>Subscriber streams whose last seq is below the highest any subscriber of that channel holds, and by how much in all.</summary>
    private static (int Streams, long Messages) Behind(Subscriber[] subscribers)
    {
        var highest = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Subscriber sub in subscribers)
        {
            foreach ((string channel, long last) in sub.LastSeqs())
            {
                highest[channel] = Math.Max(last, highest.GetValueOrDefault(channel, -1));
            }
        }

        int streams = 0;
        long messages = 0;
        foreach (Subscriber sub in subscribers)
        {
            foreach ((string channel, long last) in sub.LastSeqs())
            {
                if (last < highest[channel])
                {
                    streams++;
                    messages += highest[channel] - last;
                }
            }
        }

        return (streams, messages);
    }

    /// <summary>The run's shared state and each subscriber's drop-and-reconnect loop.</summary>
    private sealed class RunState
    {
        private readonly ScenarioContext _ctx;
        private readonly ReconnectSink _sink;
        private readonly ConnectionOptions _options;
        private readonly SemaphoreSlim _gate;
        private readonly long _t0;
        private readonly long _end;
        private readonly long _lastJoin;

        public long Drops;
        public long Reconnects;
        public long FailedJoins;
        public long Lost;

        public RunState(ScenarioContext ctx, ReconnectSink sink, ConnectionOptions options, long t0, long end, long lastJoin, int maxSeconds)
        {
            _ctx = ctx;
            _sink = sink;
            _options = options;
            _gate = new SemaphoreSlim(Math.Max(1, ctx.Settings.ConnectConcurrency));
            _t0 = t0;
            _end = end;
            _lastJoin = lastJoin;
            ReconnectsPerSecond = new long[maxSeconds];
        }

        public long[] ReconnectsPerSecond { get; }

        /// <summary>
        /// Until the end: hold the connection for a random time, drop it, stay away, reconnect with since; reconnect too
        /// when the connection ends by itself. No drop starts unless its reconnect is due before the end, and a dropped
        /// subscriber always comes back (attempts go on through the grace period), so every stream can be checked to
        /// its channel's last message. Returns the reconnect times (connect + upgrade + subscribe + ack).
        /// </summary>
        public async Task<LatencyHistogram> SubscriberLoopAsync(Subscriber sub, WsConnection? connection, double dropMin, double dropMax, double offline)
        {
            var times = new LatencyHistogram();
            CancellationToken stop = _ctx.Stop;
            if (!await ScenarioContext.DelayUntilAsync(_t0, stop).ConfigureAwait(false))
            {
                return times;
            }

            while (!stop.IsCancellationRequested)
            {
                if (connection is null)
                {
                    if (Clock.Now >= _lastJoin)
                    {
                        break;
                    }

                    long started = Clock.Now;
                    connection = await JoinAsync(sub).ConfigureAwait(false);
                    if (connection is null)
                    {
                        Interlocked.Increment(ref FailedJoins);
                        // Do not hammer a refusing server; try again while the run lasts.
                        await ScenarioContext.DelayUntilAsync(Clock.Now + Clock.FromSeconds(0.1), stop).ConfigureAwait(false);
                        continue;
                    }

                    long done = Clock.Now;
                    if (sub.Joins > 1)
                    {
                        Interlocked.Increment(ref Reconnects);
                        times.Record(Clock.ToNanos(done - started));
                        int second = (int)Clock.ToSeconds(done - _t0);
                        if ((uint)second < (uint)ReconnectsPerSecond.Length)
                        {
                            Interlocked.Increment(ref ReconnectsPerSecond[second]);
                        }
                    }
                }

                if (Clock.Now >= _end)
                {
                    break;
                }

                long dropAt = Clock.Now + Clock.FromSeconds(dropMin + (Random.Shared.NextDouble() * (dropMax - dropMin)));
                bool drop = dropAt + Clock.FromSeconds(offline) < _end;
                long until = drop ? dropAt : _end;
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(stop))
                {
                    Task timer = ScenarioContext.DelayUntilAsync(until, wait.Token);
                    await Task.WhenAny(timer, connection.Completion).ConfigureAwait(false);
                    await wait.CancelAsync().ConfigureAwait(false);
                }

                if (connection.Completion.IsCompleted)
                {
                    // Ended by the server or the network (counted as an error by the sink): reconnect like after a
                    // drop, but never sooner than 0.1 s, so a server that closes every connection is not hammered.
                    Interlocked.Increment(ref Lost);
                    sub.Drop(connection);
                    connection = null;
                    await ScenarioContext.DelayUntilAsync(Clock.Now + Clock.FromSeconds(Math.Max(offline, 0.1)), stop).ConfigureAwait(false);
                    continue;
                }

                if (!drop || stop.IsCancellationRequested)
                {
                    break;
                }

                sub.Drop(connection);
                connection = null;
                Interlocked.Increment(ref Drops);
                await ScenarioContext.DelayUntilAsync(Clock.Now + Clock.FromSeconds(offline), stop).ConfigureAwait(false);
            }

            return times;
        }

        private async Task<WsConnection?> JoinAsync(Subscriber sub)
        {
            await _gate.WaitAsync(_ctx.Stop).ConfigureAwait(false);
            try
            {
                WsConnection? connection = await _ctx.OpenAsync(sub.Index, sub.BeginJoin(_options), _sink, null, _ctx.Stop).ConfigureAwait(false);
                if (connection is null)
                {
                    sub.JoinFailed();
                }

                return connection;
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>
    /// One subscriber across its connections: its channels' checkers, and which connection is its current one. The
    /// receive loop of that connection and the drop loop both take <see cref="_lock"/>; messages of any other
    /// connection (one being dropped, or a stale open) are ignored, as bytes in flight are lost when a real
    /// connection drops, so the position sent in <c>since</c> is exactly what was checked.
    /// </summary>
    internal sealed class Subscriber
    {
        private readonly Lock _lock = new();
        private readonly StreamChecker[] _checkers;
        private readonly byte[][] _names;
        private readonly string[] _channels;
        private WsConnection? _current;
        private long _expectedAck = -1;
        private HashSet<string>? _sinceSent;

        public Subscriber(int index, string[] channels)
        {
            Index = index;
            _channels = channels;
            _checkers = channels.Select(c => new StreamChecker(c)).ToArray();
            _names = channels.Select(Encoding.UTF8.GetBytes).ToArray();
        }

        public int Index { get; }

        /// <summary>Subscribes sent (the first one and every reconnect's).</summary>
        public int Joins { get; private set; }

        public IReadOnlyList<StreamChecker> Checkers => _checkers;

        /// <summary>The next connection's subscribe: every channel, with since for each one a position is held; its id tells its ack from a stale one.</summary>
        public ConnectionSpec BeginJoin(ConnectionOptions options)
        {
            lock (_lock)
            {
                Joins++;
                var since = new List<KeyValuePair<string, StreamPosition>>();
                foreach (StreamChecker checker in _checkers)
                {
                    if (checker.HasPosition)
                    {
                        since.Add(new(checker.Channel, new StreamPosition(checker.Epoch!, checker.LastSeq)));
                    }
                }

                _sinceSent = since.Count == 0 ? null : since.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
                _expectedAck = Joins;
                return new ConnectionSpec(_channels[0], 0, 0, options, SubscribeMessage: StreamProtocol.Subscribe(_channels, since, _expectedAck));
            }
        }

        /// <summary>The open failed: a late ack of it must not be taken, and a connection it had become is gone.</summary>
        public void JoinFailed()
        {
            lock (_lock)
            {
                _expectedAck = -1;
                if (_current is not null)
                {
                    _current = null;
                    MarkDropped();
                }
            }
        }

        /// <summary>Drops <paramref name="connection"/> without a close frame; from now on nothing it read counts.</summary>
        public void Drop(WsConnection connection)
        {
            lock (_lock)
            {
                if (ReferenceEquals(_current, connection))
                {
                    _current = null;
                    MarkDropped();
                }
            }

            connection.Abort();
        }

        /// <summary>The run is over: stop counting and hand back the connection to close politely.</summary>
        public WsConnection? Leave()
        {
            lock (_lock)
            {
                WsConnection? current = _current;
                _current = null;
                MarkDropped();
                return current;
            }
        }

        public List<(string Channel, long LastSeq)> LastSeqs()
        {
            lock (_lock)
            {
                return _checkers.Where(c => c.HasPosition).Select(c => (c.Channel, c.LastSeq)).ToList();
            }
        }

        /// <summary>The ack of the current open: adopt its connection and start each channel's stream from its position.</summary>
        public void OnAck(WsConnection connection, SubscribedAck ack, ErrorCounter errors)
        {
            lock (_lock)
            {
                if (ack.Id != _expectedAck || _current is not null)
                {
                    return;
                }

                _current = connection;
                _expectedAck = -1;
                foreach (StreamChecker checker in _checkers)
                {
                    if (!ack.Positions.TryGetValue(checker.Channel, out StreamPosition position))
                    {
                        errors.Add("subscribed: no position", $"subscriber {Index}: the ack has no position for {checker.Channel} (a server without recovery, or the channel refused)");
                        continue;
                    }

                    JoinOutcome outcome = JoinOutcome.Fresh;
                    if (_sinceSent?.Contains(checker.Channel) == true)
                    {
                        if (ack.Recovered?.Contains(checker.Channel) == true)
                        {
                            outcome = JoinOutcome.Recovered;
                        }
                        else
                        {
                            outcome = JoinOutcome.NotRecovered;
                            if (ack.NotRecovered?.Contains(checker.Channel) != true)
                            {
                                errors.Add("subscribed: since not answered", $"subscriber {Index}: {checker.Channel} is in neither recovered nor notRecovered");
                            }
                        }
                    }

                    checker.Subscribed(position.Epoch, position.Seq, outcome);
                }
            }
        }

        /// <summary>A data message (envelope or inline). Returns the checker's verdict: true for a live message in order.</summary>
        public bool OnMessage(WsConnection connection, ReadOnlySpan<byte> channel, long seq, bool snapshot, ErrorCounter errors)
        {
            lock (_lock)
            {
                if (!ReferenceEquals(_current, connection))
                {
                    return false;
                }

                StreamChecker? checker = Find(channel);
                if (checker is null)
                {
                    errors.Add("message for a channel not subscribed", $"subscriber {Index}: {Encoding.UTF8.GetString(channel)}");
                    return false;
                }

                return checker.Message(seq, snapshot);
            }
        }

        public void OnGap(WsConnection connection, ReadOnlySpan<byte> channel, long from, long to)
        {
            lock (_lock)
            {
                if (ReferenceEquals(_current, connection))
                {
                    Find(channel)?.GapNotice(from, to);
                }
            }
        }

        private StreamChecker? Find(ReadOnlySpan<byte> channel)
        {
            for (int i = 0; i < _names.Length; i++)
            {
                if (channel.SequenceEqual(_names[i]))
                {
                    return _checkers[i];
                }
            }

            return null;
        }

        private void MarkDropped()
        {
            foreach (StreamChecker checker in _checkers)
            {
                checker.Dropped();
            }
        }
    }

    /// <summary>Sums of the checkers' counters over all subscribers and channels, and the first example of each problem.</summary>
    private sealed class Totals
    {
        public long Messages;
        public long Replayed;
        public long Recoveries;
        public long RecoveryFailures;
        public long Snapshots;
        public long Gaps;
        public long GapNotices;
        public long Missing;
        public long Duplicates;
        public long OutOfOrder;
        public List<string> Examples { get; } = [];

        /// <summary>Read without the subscribers' locks: exact after the run, approximate for the progress line.</summary>
        public static Totals Of(Subscriber[] subscribers)
        {
            var t = new Totals();
            string? gap = null, duplicate = null, outOfOrder = null;
            foreach (Subscriber sub in subscribers)
            {
                foreach (StreamChecker c in sub.Checkers)
                {
                    t.Messages += c.Messages;
                    t.Replayed += c.Replayed;
                    t.Recoveries += c.Recoveries;
                    t.RecoveryFailures += c.RecoveryFailures;
                    t.Snapshots += c.Snapshots;
                    t.Gaps += c.Gaps;
                    t.GapNotices += c.GapNotices;
                    t.Missing += c.Missing;
                    t.Duplicates += c.Duplicates;
                    t.OutOfOrder += c.OutOfOrder;
                    gap ??= c.FirstGap is { } g ? $"first gap: subscriber {sub.Index}, {g}" : null;
                    duplicate ??= c.FirstDuplicate is { } d ? $"first duplicate: subscriber {sub.Index}, {d}" : null;
                    outOfOrder ??= c.FirstOutOfOrder is { } o ? $"first out-of-order: subscriber {sub.Index}, {o}" : null;
                }
            }

            t.Examples.AddRange(new[] { gap, duplicate, outOfOrder }.Where(e => e is not null).Select(e => e!));
            return t;
        }
    }

    /// <summary>Routes every subscriber connection's acks, data messages and gap notices to its <see cref="Subscriber"/>.</summary>
    private sealed class ReconnectSink : IStreamSink
    {
        private readonly Subscriber[] _subscribers;
        private readonly ErrorCounter _errors;

        public ReconnectSink(Subscriber[] subscribers, ErrorCounter errors)
        {
            _subscribers = subscribers;
            _errors = errors;
        }

        public ReceiveMetrics? Metrics { get; set; }

        public void OnSubscribed(WsConnection connection, ReadOnlySpan<byte> json)
        {
            if (SubscriberOf(connection) is not { } sub)
            {
                return;
            }

            if (SubscribedAck.Parse(json) is { } ack)
            {
                sub.OnAck(connection, ack, _errors);
            }
            else
            {
                _errors.Add("subscribed: malformed", Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));
            }
        }

        public void OnData(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt) => OnMessage(connection, json, receivedAt);

        public void OnStreamText(WsConnection connection, ServerMessageKind kind, ReadOnlySpan<byte> json, long receivedAt)
        {
            if (kind == ServerMessageKind.Gap)
            {
                if (SubscriberOf(connection) is { } sub
                    && ProtocolText.TryReadStringBytes(json, "\"channel\""u8, out ReadOnlySpan<byte> channel)
                    && ProtocolText.TryReadLong(json, "\"from\""u8, out long from)
                    && ProtocolText.TryReadLong(json, "\"to\""u8, out long to))
                {
                    sub.OnGap(connection, channel, from, to);
                }

                return;
            }

            // Inline data: the published object with "channel" and "seq" appended. Other replies (pong, published,
            // unsubscribed, token_expiring ...) have no seq and are not data.
            OnMessage(connection, json, receivedAt);
        }

        public void OnServerError(WsConnection connection, ReadOnlySpan<byte> json)
        {
            string code = ProtocolText.ReadString(json, "\"code\""u8) ?? "error";
            _errors.Add((connection.Group < 0 ? "publisher: " : "") + "server error: " + code, Encoding.UTF8.GetString(json[..Math.Min(json.Length, 300)]));
        }

        public void OnUnexpectedEnd(WsConnection connection, string kind) => _errors.Add((connection.Group < 0 ? "publisher: " : "") + kind);

        private void OnMessage(WsConnection connection, ReadOnlySpan<byte> json, long receivedAt)
        {
            if (SubscriberOf(connection) is not { } sub
                || !ProtocolText.TryReadSeq(json, out long seq)
                || !ProtocolText.TryReadStringBytes(json, "\"channel\""u8, out ReadOnlySpan<byte> channel))
            {
                return;
            }

            bool live = sub.OnMessage(connection, channel, seq, ProtocolText.IsTrue(json, "\"snapshot\""u8), _errors);
            if (live && Metrics is { } metrics)
            {
                if (ProtocolText.TryReadTimestamp(json, out long sent))
                {
                    metrics.Record(0, sent, receivedAt);
                }
                else
                {
                    metrics.RecordUntimed(0);
                }
            }
        }

        private Subscriber? SubscriberOf(WsConnection connection) =>
            connection.Group >= 0 && (uint)connection.Id < (uint)_subscribers.Length ? _subscribers[connection.Id] : null;
    }
}
