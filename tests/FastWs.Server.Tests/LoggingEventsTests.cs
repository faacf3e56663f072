using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.Auth;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace FastWs.Server.Tests;

/// <summary>
/// The closes the server decides are logged with their stable event ids (docs/operations.md, "Log events"), and a
/// flood of one event is cut to a few lines a second plus a count of what was held back.
/// </summary>
public sealed class LoggingEventsTests
{
    private static readonly string[] DebugArgs = ["--Logging:LogLevel:FastWs=Debug"];

    [Fact]
    public async Task A_bad_token_close_logs_event_2007_with_the_reason()
    {
        using var tokens = new TokenFactory();
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(tokens.Configure, DebugArgs, logs);
        await using TestClient client = await AuthKit.ConnectWithQueryAsync(server, "not-a-jwt");
        string reason = await AuthKit.AssertRefusedAsync(client);

        await TestServer.WaitUntilAsync(() => logs.WithId(2007).Count == 1, "one 2007 event");
        CapturingLoggerProvider.LogEntry entry = logs.WithId(2007)[0];
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal("FastWs.Connections", entry.Category);
        Assert.Contains("4001", entry.Message, StringComparison.Ordinal);
        Assert.Contains(reason, entry.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-jwt", entry.Message, StringComparison.Ordinal); // tokens are never logged
    }

    [Fact]
    public async Task A_slow_consumer_close_logs_event_2001()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.SlowConsumer.MaxBufferedBytes = 16 * 1024;
            o.SlowConsumer.MaxCongestedTime = TimeSpan.FromMilliseconds(200);
        }, logs: logs);
        await using RawClient slow = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint, receiveBufferSize: 4096);
        await slow.SendTextAsync("""{"type":"subscribe","channels":["bench:slow"]}""");
        Acks.AssertSubscribed(await slow.ReadTextAsync(), ["bench:slow"]);

        string data = "\"" + new string('x', 2000) + "\"";
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (server.State.Metrics.SlowConsumerCloses == 0)
        {
            Assert.True(watch.Elapsed < TestServer.DefaultTimeout, "the slow client was never closed");
            for (int i = 0; i < 20; i++)
            {
                await server.Server.Publisher.PublishAsync("bench:slow", data);
            }

            await Task.Delay(20);
        }

        await TestServer.WaitUntilAsync(() => logs.WithId(2001).Count == 1, "one 2001 event");
        CapturingLoggerProvider.LogEntry entry = logs.WithId(2001)[0];
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("1013", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_protocol_error_logs_event_2009_with_its_close_code()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(logs: logs);
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);
        await client.SendAsync(new byte[] { 0x82, 0x80, 1, 2, 3, 4 }); // a masked, empty binary frame: 1003

        await TestServer.WaitUntilAsync(() => logs.WithId(2009).Count == 1, "one 2009 event");
        Assert.Contains("with 1003", logs.WithId(2009)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_over_the_limit_logs_event_2004()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxConnections = 1, logs: logs);
        await using TestClient first = await server.ConnectAsync();
        await using TestClient second = await server.ConnectAsync();
        await second.AssertClosedWithAsync(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation);

        await TestServer.WaitUntilAsync(() => logs.WithId(2004).Count == 1, "one 2004 event");
        Assert.Contains("1008", logs.WithId(2004)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeated_rate_limiting_logs_event_2005()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 2;
            o.Limits.MaxRateLimitErrors = 2;
        }, logs: logs);
        await using TestClient client = await server.ConnectAsync();
        for (int i = 0; i < 6; i++)
        {
            await client.SendAsync("""{"type":"ping"}""");
        }

        await client.AssertClosedWithAsync(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation);
        await TestServer.WaitUntilAsync(() => logs.WithId(2005).Count == 1, "one 2005 event");
        Assert.Contains("rate limit", logs.WithId(2005)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_group_limit_close_logs_event_2006()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxSubscribersPerKeyGroup = 1;
            o.Limits.KeyGroupLimitAction = KeyGroupLimitAction.Close;
        }, logs: logs);
        await using TestClient first = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(first, "price:SOL");
        await using TestClient second = await server.ConnectAsync();
        await second.SendAsync("""{"type":"subscribe","channels":["trades:SOL"]}""");
        await second.AssertClosedWithAsync(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation);

        await TestServer.WaitUntilAsync(() => logs.WithId(2006).Count == 1, "one 2006 event");
        Assert.Contains("SOL", logs.WithId(2006)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_close_by_id_logs_event_2012()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(args: DebugArgs, logs: logs);
        await using TestClient client = await server.ConnectAsync();
        string id = (await client.WaitConnectedAsync())!;
        server.State.ConnectionControl.CloseConnection(id, 4000, "maintenance");
        await client.WaitForCloseAsync();

        await TestServer.WaitUntilAsync(() => logs.WithId(2012).Count == 1, "one 2012 event");
        Assert.Contains("maintenance", logs.WithId(2012)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_never_answers_a_ping_logs_event_2002()
    {
        var logs = new CapturingLoggerProvider();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Heartbeat.PingInterval = TimeSpan.FromMilliseconds(300);
            o.Heartbeat.PongTimeout = TimeSpan.FromMilliseconds(200);
        }, DebugArgs, logs);
        // A raw client that reads nothing and so answers no ping.
        await using RawClient silent = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await TestServer.WaitUntilAsync(() => logs.WithId(2002).Count == 1, "one 2002 event");
        Assert.Contains("no answer to a ping", logs.WithId(2002)[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_flood_of_one_event_is_cut_to_the_limit_per_second_and_the_rest_counted()
    {
        long now = 0;
        var logs = new CapturingLoggerProvider();
        var events = new ServerEvents(logs.CreateLogger("FastWs.Connections"), new LogRateLimiter(maxPerSecond: 5, clockMs: () => now));

        for (int i = 0; i < 1000; i++)
        {
            events.AuthFailed(null, System.Net.IPAddress.Loopback, AuthFailures.Reason(AuthFailure.BadSignature));
            events.ConnectionLimitRefused(System.Net.IPAddress.Loopback, "Server connection limit reached"); // its own budget
        }

        Assert.Equal(5, logs.WithId(2007).Count);
        Assert.Equal(5, logs.WithId(2004).Count);
        Assert.Empty(logs.WithId(1099));

        now += 1000; // the next second: the first event that passes is preceded by the count of what was held back
        events.AuthFailed(null, System.Net.IPAddress.Loopback, "bad signature");
        CapturingLoggerProvider.LogEntry summary = Assert.Single(logs.WithId(1099));
        Assert.Contains("995 more 'AuthFailed' events (id 2007)", summary.Message, StringComparison.Ordinal);
        Assert.Equal(6, logs.WithId(2007).Count);
        Assert.Equal(2007, logs.Entries[^1].EventId);
    }

    [Fact]
    public async Task Start_and_shutdown_are_logged_at_information()
    {
        var logs = new CapturingLoggerProvider();
        TestServer server = await TestServer.StartAsync(args: ["--Logging:LogLevel:FastWs=Information"], logs: logs);
        await using (server)
        {
            await TestServer.WaitUntilAsync(() => logs.WithId(1000).Count == 1, "the start event");
            Assert.Contains(server.WebSocketUri.ToString().TrimEnd('/'), logs.WithId(1000)[0].Message, StringComparison.Ordinal);
            await server.StopAsync();
        }

        Assert.Single(logs.WithId(1001));
        Assert.Single(logs.WithId(1002));
    }
}
