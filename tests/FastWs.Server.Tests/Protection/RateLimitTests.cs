using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// The per-connection sliding-window message limit, escalation to 1008 for clients that keep going, and the
/// separate, high publish limit for connections allowed to publish.
/// </summary>
public sealed class RateLimitTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Sixth_message_in_the_window_gets_rate_limited_with_its_id_and_the_window_slides()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 5;
            o.Limits.MessageWindow = Window;
        });
        await using TestClient client = await server.ConnectAsync();
        var watch = Stopwatch.StartNew();
        TimeSpan firstAnswered = TimeSpan.Zero; // the window started between the first send and this

        for (int i = 1; i <= 5; i++)
        {
            await client.SendAsync($$"""{"type":"ping","id":{{i}}}""");
            Assert.Equal($$"""{"type":"pong","id":{{i}}}""", await client.ReceiveAsync());
            firstAnswered = i == 1 ? watch.Elapsed : firstAnswered;
        }

        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL"],"id":"six"}""");
        JsonElement error = await client.ReceiveTypeAsync("error");
        Assert.True(watch.Elapsed < Window, $"The test was too slow to exercise the window: {watch.ElapsedMilliseconds} ms");
        Assert.Equal("rate_limited", error.GetProperty("code").GetString());
        Assert.Equal("six", error.GetProperty("id").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(0, server.State.Channels.Count); // refused, not applied
        Assert.Equal(1, server.State.Metrics.RateLimited);

        // Garbage counts too, and is refused as rate_limited (without an id) before it is even looked at.
        await client.SendAsync("not json");
        Assert.Equal("rate_limited", (await client.ReceiveTypeAsync("error")).GetProperty("code").GetString());
        Assert.Equal(2, server.State.Metrics.RateLimited);

        // Once the 5 messages have slid far enough out of the window (the sliding-window counter weighs the previous
        // window by its overlap, and 5 x overlap + 1 <= 5 from a fifth, 400 ms, into the next one), messages are accepted again.
        TimeSpan slid = firstAnswered + Window + TimeSpan.FromMilliseconds(550) - watch.Elapsed;
        await Task.Delay(slid > TimeSpan.Zero ? slid : TimeSpan.Zero);
        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL"],"id":7}""");
        Assert.Equal(7, (await client.ReceiveTypeAsync("subscribed")).GetProperty("id").GetInt32());
        Assert.Equal(1, server.State.Channels.Count);
        Assert.Equal(2, server.State.Metrics.RateLimited);
        Assert.Equal(WebSocketState.Open, client.Socket.State);
    }

    [Fact]
    public async Task Client_that_keeps_going_after_MaxRateLimitErrors_is_closed_with_1008()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 5;
            o.Limits.MessageWindow = TimeSpan.FromMinutes(1);
            o.Limits.MaxRateLimitErrors = 3;
        });
        await using TestClient client = await server.ConnectAsync();

        // Exactly nine: the server may close as soon as it has read the ninth, and a send after that would fail
        // (broken pipe) and abort the client before it has read the answers.
        for (int i = 1; i <= 9; i++)
        {
            await client.SendAsync($$"""{"type":"ping","id":{{i}}}""");
        }

        // Five answers, three rate_limited errors, then the 4th refused message closes the connection.
        for (int i = 1; i <= 5; i++)
        {
            Assert.Equal($$"""{"type":"pong","id":{{i}}}""", await client.ReceiveAsync());
        }

        for (int i = 6; i <= 8; i++)
        {
            JsonElement error = await client.ReceiveTypeAsync("error");
            Assert.Equal("rate_limited", error.GetProperty("code").GetString());
            Assert.Equal(i, error.GetProperty("id").GetInt32());
        }

        await client.AssertClosedWithAsync(WebSocketCloseStatus.PolicyViolation);
        Assert.Equal("Rate limit exceeded repeatedly", client.CloseDescription);
        await ProtectionKit.AssertNothingLeftAsync(server);
        Assert.Equal(4, server.State.Metrics.RateLimited);
        Assert.Equal(1, server.State.Metrics.ClosesWithCode(CloseCode.PolicyViolation));
    }

    [Fact]
    public async Task Publishes_from_a_loopback_publisher_count_against_the_publish_limit_not_the_message_limit()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxMessagesPerWindow = 5;
            o.Limits.MessageWindow = TimeSpan.FromMinutes(1);
            o.Limits.MaxPublishesPerSecond = 1000;
        });
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "price:SOL");
        await using TestClient publisher = await server.ConnectAsync();

        const int Count = 200;
        for (int i = 1; i <= Count; i++)
        {
            await publisher.SendAsync($$"""{"type":"publish","channel":"price:SOL","data":{{i}}}""");
        }

        for (int i = 1; i <= Count; i++)
        {
            Assert.Equal($$"""{"type":"message","channel":"price:SOL","seq":{{i}},"data":{{i}}}""", await subscriber.ReceiveAsync());
        }

        // The publisher's other messages still have their own 5 per window.
        for (int i = 1; i <= 5; i++)
        {
            await publisher.SendAsync($$"""{"type":"ping","id":{{i}}}""");
            Assert.Equal($$"""{"type":"pong","id":{{i}}}""", await publisher.ReceiveAsync());
        }

        await publisher.SendAsync("""{"type":"ping","id":6}""");
        Assert.Equal("rate_limited", (await publisher.ReceiveTypeAsync("error")).GetProperty("code").GetString());
        Assert.Equal(1, server.State.Metrics.RateLimited);
    }

    [Fact]
    public async Task Publishes_over_MaxPublishesPerSecond_get_rate_limited()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxPublishesPerSecond = 10;
            o.Limits.MaxRateLimitErrors = 0; // never close for it
        });
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "price:SOL");
        await using TestClient publisher = await server.ConnectAsync();
        var watch = Stopwatch.StartNew();

        for (int i = 1; i <= 15; i++)
        {
            await publisher.SendAsync($$"""{"type":"publish","channel":"price:SOL","data":{{i}},"id":{{i}}}""");
        }

        var replies = new List<string>();
        for (int i = 1; i <= 15; i++)
        {
            JsonElement reply = await publisher.ReceiveJsonAsync();
            Assert.Equal(i, reply.GetProperty("id").GetInt32());
            replies.Add(reply.GetProperty("type").GetString() == "error" ? reply.GetProperty("code").GetString()! : reply.GetProperty("type").GetString()!);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"The test was too slow to exercise a 1 s window: {watch.ElapsedMilliseconds} ms");
        Assert.Equal(Enumerable.Repeat("published", 10).Concat(Enumerable.Repeat("rate_limited", 5)), replies);
        for (int i = 1; i <= 10; i++)
        {
            Assert.Equal($$"""{"type":"message","channel":"price:SOL","seq":{{i}},"data":{{i}}}""", await subscriber.ReceiveAsync());
        }

        await subscriber.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
        Assert.Equal(5, server.State.Metrics.RateLimited);
        Assert.Equal(WebSocketState.Open, publisher.Socket.State);
    }

    [Fact]
    public async Task MaxMessagesPerWindow_0_is_off()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxMessagesPerWindow = 0);
        await using TestClient client = await server.ConnectAsync();

        for (int i = 1; i <= 300; i++)
        {
            await client.SendAsync($$"""{"type":"ping","id":{{i}}}""");
        }

        for (int i = 1; i <= 300; i++)
        {
            Assert.Equal($$"""{"type":"pong","id":{{i}}}""", await client.ReceiveAsync());
        }

        Assert.Equal(0, server.State.Metrics.RateLimited);
    }
}
