using System.Net.Sockets;
using FastWs.LoadGen.Auth;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Metrics;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Scenarios;

/// <summary>
/// What to open: a connection subscribed to <see cref="Channel"/> (or to nothing when null). With
/// <see cref="SubscribeMessage"/> that request is sent instead of the plain subscribe to <see cref="Channel"/> (several
/// channels, <c>since</c>), and its ack is waited for the same way.
/// </summary>
/// The connection goes to <see cref="RunSettings.EndpointFor"/> its id: publishers to --publish-url, the others round robin
/// over the --url values.
internal readonly record struct ConnectionSpec(string? Channel, int ChannelIndex, int Group, ConnectionOptions Options, bool ExpectData = false, byte[]? SubscribeMessage = null);

/// <summary>Timings of one successful open, in Stopwatch ticks.</summary>
internal readonly record struct OpenTimings(long Started, long Upgraded, long Subscribed);

/// <summary>Shared services of a run: settings, error counts, /proc sampling, the stop signal, and opening connections.</summary>
internal sealed class ScenarioContext : IDisposable
{
    public ScenarioContext(RunSettings settings, CancellationToken stop)
    {
        Settings = settings;
        Stop = stop;
        Sampler = new ProcSampler(settings.ServerPids);
    }

    public RunSettings Settings { get; }

    /// <summary>Cancelled by Ctrl+C or SIGTERM: stop early and report what was measured.</summary>
    public CancellationToken Stop { get; }

    public ErrorCounter Errors { get; } = new();

    public ProcSampler Sampler { get; }

    /// <summary>The connections' tokens, prepared (minted) by <see cref="PrepareTokens"/> before any connection opens; null without tokens.</summary>
    public ConnectionTokens? Tokens { get; private set; }

    /// <summary>What the server made of the tokens: authenticated answers (message mode) and 4001 refusals (any mode).</summary>
    public AuthCounter Auth { get; } = new();

    public static void Log(string line) => Console.Error.WriteLine(line);

    /// <summary>
    /// With several --url or a --publish-url: every URL, the publishers' URL, and the protocol when not FastWs's. A
    /// single-node run's settings stay as they were (only "url").
    /// </summary>
    public static void AddUrlSettings(Reporting.RunReport report, RunSettings s)
    {
        if (s.Urls.Count > 1)
        {
            for (int i = 0; i < s.Urls.Count; i++)
            {
                report.Setting($"url {i + 1}", s.Urls[i]);
            }
        }

        if (s.Urls.Count > 1 || s.PublishUrl != s.Url)
        {
            report.Setting("publish url", s.PublishUrl);
        }

        if (s.Protocol != WireProtocol.FastWs)
        {
            report.Setting("protocol", s.Protocol.ToString().ToLowerInvariant());
        }
    }

    /// <summary>
    /// With several --url: how many of the opened connections went to each (metrics <c>subscribers_url1</c> ...,
    /// labelled with the URL), so a report shows how the load was spread over the nodes.
    /// </summary>
    public static void AddPerUrlCounts(Reporting.RunReport report, RunSettings s, IEnumerable<WsConnection> opened, string what)
    {
        if (s.Urls.Count < 2)
        {
            return;
        }

        var counts = new int[s.Urls.Count];
        foreach (WsConnection c in opened)
        {
            counts[s.UrlIndexFor(c.Id)]++;
        }

        for (int i = 0; i < counts.Length; i++)
        {
            report.Add($"{what}_url{i + 1}", $"{what} on {s.Urls[i]}", counts[i], Reporting.MetricKind.Count);
        }
    }

    public ConnectionOptions Options(int receiveBuffer, int socketReceiveBuffer = 0) => new()
    {
        ReceiveBufferSize = receiveBuffer,
        SocketReceiveBuffer = socketReceiveBuffer,
        Auth = Auth,
        OfferDeflate = Settings.Deflate,
        Protocol = Settings.Protocol,
    };

    /// <summary>
    /// Mints or prepares every connection's token, before the scenario starts its clock: signing is never on the
    /// measured path, and opening a connection only copies the prepared bytes.
    /// </summary>
    public void PrepareTokens()
    {
        TokenPlan plan = Settings.Token;
        if (plan.Kind == TokenKind.None)
        {
            return;
        }

        (int subscribers, int publishers) = Settings.TokenSlots();
        long start = Clock.Now;
        Tokens = ConnectionTokens.Prepare(plan, subscribers, publishers, DateTime.UtcNow);
        string minted = plan.Mint is null ? "" : $" ({Tokens!.Count:N0} minted in {Clock.ToSeconds(Clock.Now - start):F2} s, before the ramp)";
        Log($"token: {plan.Describe()}{minted}");
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections with at most <see cref="RunSettings.ConnectConcurrency"/> handshakes
    /// in flight and, when <paramref name="rate"/> &gt; 0, at most that many started per second. Failed opens are counted
    /// as errors and leave a null. Stops starting new ones when <paramref name="ct"/> is cancelled.
    /// </summary>
    public async Task<WsConnection?[]> OpenManyAsync(int count, Func<int, ConnectionSpec> spec, IConnectionSink sink, double rate, Action<WsConnection, OpenTimings>? onOpened, CancellationToken ct)
    {
        var result = new WsConnection?[count];
        using var gate = new SemaphoreSlim(Math.Max(1, Settings.ConnectConcurrency));
        var tasks = new List<Task>(count);
        long start = Clock.Now;
        try
        {
            for (int i = 0; i < count; i++)
            {
                if (rate > 0)
                {
                    long wait = start + Clock.FromSeconds(i / rate) - Clock.Now;
                    if (wait > Clock.FromSeconds(0.001))
                    {
                        await Task.Delay(TimeSpan.FromSeconds(Clock.ToSeconds(wait)), ct).ConfigureAwait(false);
                    }
                }

                await gate.WaitAsync(ct).ConfigureAwait(false);
                int index = i;
                tasks.Add(Task.Run(
                    async () =>
                    {
                        try
                        {
                            result[index] = await OpenAsync(index, spec(index), sink, onOpened, ct).ConfigureAwait(false);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    },
                    CancellationToken.None));
            }
        }
        catch (OperationCanceledException)
        {
            // Stop requested: report what was opened.
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Connects, upgrades, starts the receive loop and (when a channel is given) subscribes and waits for the ack. In
    /// message mode the open also waits for the <c>authenticated</c> answer to the auth message (the subscribe is sent
    /// without waiting for it, as the server answers in order), so an open connection is an authenticated one.
    /// </summary>
    public async Task<WsConnection?> OpenAsync(int id, ConnectionSpec spec, IConnectionSink sink, Action<WsConnection, OpenTimings>? onOpened, CancellationToken ct)
    {
        long started = Clock.Now;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(Settings.ConnectTimeout));
        WsConnection? connection = null;
        try
        {
            WsEndpoint endpoint = Settings.EndpointFor(id);
            bool signalR = spec.Options.Protocol == WireProtocol.SignalR;
            bool viaUrl = spec.Channel is not null && spec.SubscribeMessage is null && Settings.SubscribeVia == SubscribeVia.Url;
            string target = viaUrl ? endpoint.WithSubscribeQuery(spec.Channel!) : endpoint.PathAndQuery;
            connection = await WsConnection.ConnectAsync(endpoint, target, Tokens?.For(id), spec.Options, sink, timeout.Token).ConfigureAwait(false);
            long upgraded = Clock.Now;
            connection.Id = id;
            connection.Group = spec.Group;
            connection.ChannelIndex = spec.ChannelIndex;
            if (spec.Channel is not null)
            {
                connection.ExpectAck();
            }

            if (spec.ExpectData)
            {
                connection.ExpectData();
            }

            connection.Start();
            if (signalR)
            {
                // SignalR: the hub protocol handshake first (the server answers {} before anything else it sends).
                await connection.SendAsync(FastWs.Protocol.Frames.WebSocketOpcode.Text, SignalRProtocol.Handshake, timeout.Token).ConfigureAwait(false);
            }

            if (spec.Channel is not null)
            {
                if (signalR)
                {
                    // Subscribe(channel) with an invocation id: its completion is the ack.
                    await connection.SendAsync(FastWs.Protocol.Frames.WebSocketOpcode.Text, SignalRProtocol.Subscribe(spec.Channel, id + 1), timeout.Token).ConfigureAwait(false);
                }
                else if (spec.SubscribeMessage is { } request)
                {
                    await connection.SendAsync(FastWs.Protocol.Frames.WebSocketOpcode.Text, request, timeout.Token).ConfigureAwait(false);
                }
                else if (!viaUrl)
                {
                    await connection.SendSubscribeAsync([spec.Channel], id + 1, timeout.Token).ConfigureAwait(false);
                }
            }

            if (connection.SentAuthMessage)
            {
                await connection.WaitAuthAsync(TimeSpan.FromSeconds(Settings.ConnectTimeout), timeout.Token).ConfigureAwait(false);
            }

            if (spec.Channel is not null)
            {
                await connection.WaitAckAsync(TimeSpan.FromSeconds(Settings.ConnectTimeout), timeout.Token).ConfigureAwait(false);
            }

            connection.MarkOpen();
            onOpened?.Invoke(connection, new OpenTimings(started, upgraded, Clock.Now));
            return connection;
        }
        catch (HandshakeException ex)
        {
            Errors.Add(ex.Kind, ex.Message);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            // A send into a connection the server has just closed (a refused token) fails with a reset: the close
            // the server sent first says why, so that is what is counted.
            string kind = ex is SocketException se ? "connect: " + se.SocketErrorCode : "connect: I/O error";
            Errors.Add(connection is null ? kind : await connection.EndWhileOpeningAsync().ConfigureAwait(false) ?? kind, ex.Message);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Errors.Add("connect: timeout", $"no upgrade/ack within {Settings.ConnectTimeout} s");
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        connection?.Dispose();
        return null;
    }

    /// <summary>Closes connections politely in parallel, giving up (and aborting the rest) after <paramref name="timeout"/>.</summary>
    public static async Task CloseAllAsync(IEnumerable<WsConnection> connections, TimeSpan timeout)
    {
        List<WsConnection> list = connections.ToList();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Parallel.ForEachAsync(
                list,
                new ParallelOptions { MaxDegreeOfParallelism = 256, CancellationToken = cts.Token },
                async (c, token) => await c.CloseAsync(token).ConfigureAwait(false)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: abort the rest below.
        }

        foreach (WsConnection c in list)
        {
            c.Dispose();
        }
    }

    /// <summary>
    /// Ends the measured window: at <paramref name="windowEnd"/> when the run got there (<paramref name="completed"/>),
    /// else now (or empty, if the warm-up never finished), marking the report partial.
    /// </summary>
    public static void CloseWindow(ReceiveMetrics metrics, Reporting.RunReport report, bool completed, long windowStart, long windowEnd)
    {
        if (completed)
        {
            return;
        }

        long end = Math.Min(Clock.Now, windowEnd);
        if (end < windowStart)
        {
            metrics.WindowStart = end;
        }

        metrics.WindowEnd = end;
        report.Partial = true;
        report.StopReason = "stopped by signal";
    }

    /// <summary>Waits for a publisher's thread (5 s at most) and reports a publisher that gave up.</summary>
    public void JoinPublisher(Publishing.Publisher publisher, Reporting.RunReport report)
    {
        if (!publisher.Join(TimeSpan.FromSeconds(5)))
        {
            Errors.Add("publisher: did not stop within 5 s (server not reading?)");
        }

        if (publisher.FatalError is not null)
        {
            report.Warnings.Add(publisher.FatalError);
        }
    }

    /// <summary>Waits until the Stopwatch reaches <paramref name="ticks"/>; returns false if stopped first.</summary>
    public static async Task<bool> DelayUntilAsync(long ticks, CancellationToken ct)
    {
        while (true)
        {
            long wait = ticks - Clock.Now;
            if (wait <= 0)
            {
                return true;
            }

            try
            {
                // Sleep coarse, then finish with short waits so window edges land within about a millisecond.
                double seconds = Clock.ToSeconds(wait);
                await Task.Delay(TimeSpan.FromSeconds(seconds > 0.05 ? seconds - 0.02 : 0.001), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    public void Dispose() => Sampler.Dispose();
}
