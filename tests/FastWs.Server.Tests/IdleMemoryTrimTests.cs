using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastWs.Server.Tests;

/// <summary>
/// The idle memory trim: when it decides to run (quiet for the configured time, enough allocated since the last
/// one), that traffic of any kind holds it off, and that a real server trims, reports it, and keeps serving.
/// </summary>
public sealed class IdleMemoryTrimTests
{
    private const long MiB = 1024 * 1024;

    private static (IdleMemoryTrim Trim, ServerState State) NewPolicy(double quietMs = 1000, long minAllocated = 16 * MiB)
    {
        var options = new FastWsOptions();
        options.Memory.TrimAfterIdle = TimeSpan.FromMilliseconds(quietMs);
        options.Memory.TrimMinAllocatedBytes = minAllocated;
        var state = new ServerState(options);
        return (new IdleMemoryTrim(state, NullLogger<IdleMemoryTrim>.Instance), state);
    }

    [Fact]
    public void Trims_only_after_the_quiet_period_and_only_with_enough_allocated()
    {
        (IdleMemoryTrim trim, _) = NewPolicy();
        Assert.False(trim.ShouldTrim(nowMs: 10_000, allocatedBytes: 100 * MiB)); // first look: the quiet period starts here
        Assert.False(trim.ShouldTrim(10_999, 100 * MiB));
        Assert.True(trim.ShouldTrim(11_000, 100 * MiB));

        (IdleMemoryTrim lean, _) = NewPolicy();
        Assert.False(lean.ShouldTrim(10_000, 15 * MiB));
        Assert.False(lean.ShouldTrim(20_000, 15 * MiB)); // quiet, but too little allocated to be worth a pause
        Assert.True(lean.ShouldTrim(20_001, 16 * MiB));

        // After a trim, silence alone is not enough: the next one waits for another 16 MB of allocation.
        lean.RecordTrim(16 * MiB);
        Assert.False(lean.ShouldTrim(30_000, 31 * MiB));
        Assert.True(lean.ShouldTrim(30_001, 32 * MiB));
    }

    [Fact]
    public void Any_traffic_restarts_the_quiet_period()
    {
        (IdleMemoryTrim trim, ServerState state) = NewPolicy();
        Assert.False(trim.ShouldTrim(0, 100 * MiB));
        var steps = new (string What, Action Bump)[]
        {
            ("a connection opening", state.Metrics.ConnectionOpened),
            ("a connection closing", state.Metrics.ConnectionClosed),
            ("a message in", () => state.Metrics.MessageIn(10)),
            ("a delivery", () => state.Metrics.Delivered(1, 50)),
            ("a publish", state.Metrics.PublishAccepted),
            ("a failed handshake", () => state.Metrics.HandshakeFailed(Metrics.HandshakeFailure.Timeout)),
        };

        long now = 0;
        foreach ((string what, Action bump) in steps)
        {
            now += 900;
            bump();
            Assert.False(trim.ShouldTrim(now, 100 * MiB), what);
            Assert.False(trim.ShouldTrim(now + 999, 100 * MiB), what + ": still inside the new quiet period");
        }

        Assert.True(trim.ShouldTrim(now + 1000, 100 * MiB));
    }

    [Fact]
    public void A_server_shutting_down_does_not_trim()
    {
        (IdleMemoryTrim trim, ServerState state) = NewPolicy();
        Assert.False(trim.ShouldTrim(0, 100 * MiB));
        state.BeginShutdown();
        Assert.False(trim.ShouldTrim(5_000, 100 * MiB));
    }

    [Fact]
    public async Task A_quiet_server_trims_reports_it_and_keeps_serving_and_traffic_holds_the_trim_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Memory.TrimAfterIdle = TimeSpan.FromSeconds(1);
            o.Memory.TrimMinAllocatedBytes = 1 * MiB;
        });
        await using TestClient subscriber = await server.ConnectAsync("subscribe=price:BTC");
        await subscriber.ReceiveTypeAsync("subscribed");

        // Traffic every 50 ms for 2 s (twice the quiet period): no trim meanwhile, though allocations arm it.
        for (int i = 0; i < 40; i++)
        {
            GC.KeepAlive(new byte[64 * 1024]);
            await server.Server.Publisher.PublishAsync("price:BTC", $$"""{"i":{{i}}}""");
            await subscriber.ReceiveTypeAsync("message");
            await Task.Delay(50);
        }

        Assert.Equal(0, server.State.Metrics.IdleTrims);

        // Silence: a trim. (More may follow: the allocation that re-arms it is the whole test process's, and the
        // other tests keep allocating; the policy test above covers "one per 16 MB".)
        await TestServer.WaitUntilAsync(() => server.State.Metrics.IdleTrims >= 1, "an idle trim");
        Assert.True(server.State.Metrics.LastIdleTrimPause > TimeSpan.Zero);

        using var http = new HttpClient { BaseAddress = server.HttpUri };
        using JsonDocument stats = JsonDocument.Parse(await http.GetStringAsync(new Uri("/ws/stats", UriKind.Relative)));
        JsonElement memory = stats.RootElement.GetProperty("memory");
        Assert.True(memory.GetProperty("idleTrims").GetInt64() >= 1);
        Assert.True(memory.GetProperty("lastIdleTrimPauseMs").GetDouble() > 0);
        string prometheus = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.True(Protection.MetricsTests.ParsePrometheus(prometheus, out _)["fastws_memory_idle_trims_total"] >= 1);

        // The connection made before the trim still gets what is published after it.
        await server.Server.Publisher.PublishAsync("price:BTC", """{"after":"trim"}""");
        JsonElement message = await subscriber.ReceiveTypeAsync("message");
        Assert.Contains("trim", message.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Zero_switches_the_trim_off()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Memory.TrimAfterIdle = TimeSpan.Zero;
            o.Memory.TrimMinAllocatedBytes = 0;
        });
        await Task.Delay(500);
        Assert.Equal(0, server.State.Metrics.IdleTrims);
    }
}
