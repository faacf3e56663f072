using System.CommandLine;
using System.Runtime.InteropServices;
using FastWs.LoadGen.Cli;
using FastWs.LoadGen.Reporting;
using FastWs.LoadGen.Scenarios;

namespace FastWs.LoadGen;

/// <summary>
/// Entry point. Exit codes: 0 all good; 1 bad arguments or a fatal error (nothing could connect, server PID
/// missing...); 2 a --threshold was missed; 3 the run was stopped early (Ctrl+C, SIGTERM, --max-run-time)
/// and its report is partial.
/// </summary>
internal static class Program
{
    public const int ExitOk = 0;
    public const int ExitFatal = 1;
    public const int ExitThreshold = 2;
    public const int ExitPartial = 3;

    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> Main(string[] args)
    {
        // Run socket continuations on the epoll threads (one per core) instead of queueing each to the thread
        // pool: the receive loops never block, and this cuts the tool's CPU per message by about a third.
        // Set DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 to compare. Read once, at the first socket.
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        RootCommand root = Commands.Build();
        ParseResult parse = root.Parse(args);
        // Signals are handled by the scenarios (graceful stop and a partial report), not by the parser library.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }

    public static async Task<int> RunAsync(ParsedOptions options)
    {
        (RunSettings? settings, string? error) = options.Validate();
        if (settings is null)
        {
            await Console.Error.WriteLineAsync("error: " + error).ConfigureAwait(false);
            return ExitFatal;
        }

        var thresholds = new List<Threshold>();
        foreach (string expression in settings.Thresholds)
        {
            string? problem = Threshold.TryParse(expression, out Threshold? threshold);
            if (problem is not null)
            {
                await Console.Error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
                return ExitFatal;
            }

            thresholds.Add(threshold!);
        }

        // A scenario's own pass/fail rules (reconnect: no gap, duplicate or out-of-order message), unless the command
        // line gave a rule on the same metric.
        IReadOnlyList<string> required = settings.Scenario switch
        {
            "reconnect" => ReconnectScenario.RequiredThresholds,
            "conflation" => ConflationScenario.RequiredThresholds,
            "storm" => StormScenario.RequiredThresholds,
            _ => [],
        };
        foreach (string expression in required)
        {
            Threshold.TryParse(expression, out Threshold? rule);
            if (rule is not null && !thresholds.Any(t => t.Metric == rule.Metric))
            {
                thresholds.Add(rule);
            }
        }

        using var stop = new CancellationTokenSource();
        using var ctx = new ScenarioContext(settings, stop.Token);
        string? pidError = ctx.Sampler.Validate();
        if (pidError is not null)
        {
            await Console.Error.WriteLineAsync("error: " + pidError).ConfigureAwait(false);
            return ExitFatal;
        }

        // Before the clock starts: minting is not part of what a scenario measures.
        ctx.PrepareTokens();

        string? stopReason = null;
        void RequestStop(string reason)
        {
            if (!stop.IsCancellationRequested)
            {
                stopReason = reason;
                ScenarioContext.Log($"{reason}: stopping, a partial report follows (Ctrl+C again to abort at once)");
                stop.Cancel();
            }
        }

        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (!stop.IsCancellationRequested)
            {
                e.Cancel = true;
                RequestStop("Ctrl+C");
            }
        };
        Console.CancelKeyPress += onCancel;
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            RequestStop("SIGTERM");
        });

        // Bounded no matter what: a graceful stop at the run-time limit, a hard exit 30 s later.
        double limit = options.RunTimeLimit;
        using var softLimit = new Timer(_ => RequestStop($"--max-run-time {limit:F0} s reached"), null, TimeSpan.FromSeconds(limit), Timeout.InfiniteTimeSpan);
        using var hardLimit = new Timer(
            _ =>
            {
                Console.Error.WriteLine("error: the run did not finish 30 s after --max-run-time; exiting");
                Environment.Exit(ExitPartial);
            },
            null,
            TimeSpan.FromSeconds(limit + 30),
            Timeout.InfiniteTimeSpan);

        RunReport report;
        try
        {
            report = settings.Scenario switch
            {
                "fanout" => await FanoutScenario.RunAsync(ctx, slowScenario: false).ConfigureAwait(false),
                "slow" => await FanoutScenario.RunAsync(ctx, slowScenario: true).ConfigureAwait(false),
                "connect" => await ConnectScenario.RunAsync(ctx).ConfigureAwait(false),
                "churn" => await ChurnScenario.RunAsync(ctx).ConfigureAwait(false),
                "reconnect" => await ReconnectScenario.RunAsync(ctx).ConfigureAwait(false),
                "conflation" => await ConflationScenario.RunAsync(ctx).ConfigureAwait(false),
                "storm" => await StormScenario.RunAsync(ctx).ConfigureAwait(false),
                "history-memory" => await HistoryMemoryScenario.RunAsync(ctx).ConfigureAwait(false),
                _ => throw new InvalidOperationException("unknown scenario " + settings.Scenario),
            };
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }

        RecordTokens(report, settings, ctx);
        if (stopReason is not null)
        {
            report.Partial = true;
            report.StopReason = stopReason;
        }

        foreach (Threshold threshold in thresholds)
        {
            report.Thresholds.Add(threshold.Evaluate(report));
        }

        Console.Out.Write(TextReport.Render(report));
        if (settings.ReportDir is { } dir)
        {
            try
            {
                Directory.CreateDirectory(dir);
                string json = Path.Combine(dir, "summary.json");
                await using (FileStream file = File.Create(json))
                {
                    JsonReport.Write(file, report);
                }

                string html = Path.Combine(dir, "report.html");
                await File.WriteAllTextAsync(html, HtmlReport.Render(report)).ConfigureAwait(false);
                string hlog = "";
                if (report.LatencyLog is { } latencyLog)
                {
                    hlog = Path.Combine(dir, HlogReport.FileName);
                    await using FileStream file = File.Create(hlog);
                    HlogReport.Write(file, latencyLog);
                    hlog = ", " + hlog;
                }

                ScenarioContext.Log($"report written: {json}, {html}{hlog}");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"error: cannot write the report to {dir}: {ex.Message}").ConfigureAwait(false);
                return ExitFatal;
            }
        }

        if (report.FatalError is not null)
        {
            return ExitFatal;
        }

        if (report.Thresholds.Any(t => !t.Passed))
        {
            await Console.Error.WriteLineAsync($"{report.Thresholds.Count(t => !t.Passed)} threshold(s) missed").ConfigureAwait(false);
            return ExitThreshold;
        }

        return report.Partial ? ExitPartial : ExitOk;
    }

    /// <summary>
    /// The token mode into every report (never a token), and what the server made of the tokens: 4001 refusals (also
    /// counted as errors, by reason) and, in message mode, the authenticated answers.
    /// </summary>
    private static void RecordTokens(RunReport report, RunSettings settings, ScenarioContext ctx)
    {
        Auth.TokenPlan plan = settings.Token;
        report.TokenKind = plan.KindName;
        report.TokenIn = plan.PlacementName;
        report.Setting("token", plan.Describe());
        long refused = ctx.Auth.Refused;
        if (plan.Kind != Auth.TokenKind.None || refused > 0)
        {
            report.Add("auth_refused", "connections closed 4001 (token refused)", refused, MetricKind.Count, "also errors, by the server's reason");
        }

        if (plan is { Kind: not Auth.TokenKind.None, Placement: Auth.TokenPlacement.Message })
        {
            report.Add("authenticated", "auth messages answered authenticated", ctx.Auth.Authenticated, MetricKind.Count);
        }

        if (refused > 0)
        {
            report.Warnings.Add(plan.Kind == Auth.TokenKind.None
                ? $"{refused} connection(s) closed with 4001: the server requires a token (--token, --token-file or --mint-token)"
                : $"{refused} connection(s) closed with 4001: the server refused their tokens (reasons under errors); check that it is configured with the key the tokens are signed with (FastWs:Auth:Jwt:HmacSecret or PublicKeyFiles)");
        }
    }
}
