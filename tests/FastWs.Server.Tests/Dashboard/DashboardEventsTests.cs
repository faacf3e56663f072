using System.Net;
using System.Text;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Http.Dashboard;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Dashboard;

/// <summary>
/// The dashboard's push endpoint (<c>GET /api/dashboard/events</c>, server-sent events) and its page (<c>GET /</c>):
/// the event format, the history a viewer starts with, the numbers following the server's own, and the bound on a
/// viewer that does not keep up.
/// </summary>
public sealed class DashboardEventsTests
{
    [Fact]
    public async Task The_stream_opens_with_the_history_and_the_status_then_ticks_every_second_with_the_servers_numbers()
    {
        await using TestServer server = await TestServer.StartAsync();
        // Two seconds of history first: a viewer joining later gets them at once.
        await TestServer.WaitUntilAsync(() => server.State.Dashboard.History().Length >= 2, "two dashboard samples");
        await using TestClient one = await server.ConnectAsync("subscribe=bench:dash");
        await using TestClient two = await server.ConnectAsync("subscribe=bench:dash");
        await one.WaitConnectedAsync();
        await two.WaitConnectedAsync();

        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.HttpUri, "/api/dashboard/events"));
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        await using var events = new EventReader(await response.Content.ReadAsStreamAsync());

        Assert.Equal("retry: 2000", await events.ReadLineAsync());
        Assert.Equal("", await events.ReadLineAsync());

        (string name, JsonElement history) = await events.ReadEventAsync();
        Assert.Equal("history", name);
        Assert.Equal(DashboardFeed.Seconds, history.GetProperty("seconds").GetInt32());
        JsonElement[] samples = [.. history.GetProperty("samples").EnumerateArray()];
        Assert.True(samples.Length >= 2, history.ToString());
        long[] times = [.. samples.Select(s => s.GetProperty("t").GetInt64())];
        Assert.Equal(times.Order(), times);
        string[] sampleFields =
        [
            "t", "connections", "messagesInPerSec", "messagesOutPerSec", "bytesInPerSec", "bytesOutPerSec", "publishedPerSec",
            "skippedPerSec", "slowConsumerClosesPerSec", "handshakeFailuresPerSec", "authFailuresPerSec", "gcHeapBytes", "workingSetBytes",
        ];
        Assert.Equal(sampleFields, samples[0].EnumerateObject().Select(p => p.Name));

        (name, JsonElement status) = await events.ReadEventAsync();
        Assert.Equal("status", name);
        AssertStatus(status, connections: 2);
        Assert.Contains(status.GetProperty("topChannels").EnumerateArray(),
            c => c.GetProperty("name").GetString() == "bench:dash" && c.GetProperty("subscribers").GetInt32() == 2);

        // Traffic: the ticks follow it. 2 subscribers x 20 messages a second for a few seconds.
        using var publishing = new CancellationTokenSource();
        Task publisher = PublishSteadilyAsync(server, "bench:dash", perSecond: 20, publishing.Token);
        try
        {
            JsonElement tick = default;
            for (int i = 0; i < 8; i++)
            {
                (name, tick) = await events.ReadEventAsync();
                Assert.Equal("tick", name);
                if (tick.GetProperty("sample").GetProperty("messagesOutPerSec").GetInt64() > 0)
                {
                    break;
                }
            }

            JsonElement sample = tick.GetProperty("sample");
            Assert.Equal(sampleFields, sample.EnumerateObject().Select(p => p.Name));
            Assert.Equal(2, sample.GetProperty("connections").GetInt64());
            Assert.True(sample.GetProperty("messagesOutPerSec").GetInt64() > 0, tick.ToString());
            Assert.True(sample.GetProperty("publishedPerSec").GetInt64() > 0, tick.ToString());
            Assert.True(sample.GetProperty("bytesOutPerSec").GetInt64() > 0, tick.ToString());
            Assert.True(sample.GetProperty("workingSetBytes").GetInt64() > 0, tick.ToString());
            Assert.True(sample.GetProperty("t").GetInt64() > times[^1], tick.ToString());
            AssertStatus(tick.GetProperty("status"), connections: 2);
            // The same second the server's own history holds.
            Assert.Contains(server.State.Dashboard.History(), s => s.UnixMs == sample.GetProperty("t").GetInt64()
                && s.MessagesOut == sample.GetProperty("messagesOutPerSec").GetInt64());
        }
        finally
        {
            await publishing.CancelAsync();
            await publisher;
        }

        // A third connection shows in the next ticks.
        await using TestClient three = await server.ConnectAsync();
        await three.WaitConnectedAsync();
        for (int i = 0; ; i++)
        {
            Assert.True(i < 5, "the third connection never showed");
            (_, JsonElement tick) = await events.ReadEventAsync();
            if (tick.GetProperty("sample").GetProperty("connections").GetInt64() == 3)
            {
                Assert.Equal(3, tick.GetProperty("status").GetProperty("connections").GetInt64());
                break;
            }
        }

        Assert.Equal(1, server.State.Dashboard.ViewerCount);
    }

    [Fact]
    public async Task The_viewer_leaves_with_its_stream_and_the_server_stops_with_one_open()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };
        using (HttpResponseMessage response = await http.GetAsync(new Uri(server.HttpUri, "/api/dashboard/events"), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await TestServer.WaitUntilAsync(() => server.State.Dashboard.ViewerCount == 1, "the viewer to join");
        }

        await TestServer.WaitUntilAsync(() => server.State.Dashboard.ViewerCount == 0, "the viewer to leave when its client went");

        // A stream still open does not hold up shutdown: it ends when the server stops.
        using HttpResponseMessage open = await http.GetAsync(new Uri(server.HttpUri, "/api/dashboard/events"), HttpCompletionOption.ResponseHeadersRead);
        await using Stream body = await open.Content.ReadAsStreamAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await server.StopAsync();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {watch.Elapsed}: the open stream held it up"); // held, it would wait for the host's 30 s shutdown timeout
        using var drain = new CancellationTokenSource(TestServer.DefaultTimeout);
        await body.CopyToAsync(Stream.Null, drain.Token); // ends: the server finished the response
    }

    [Fact]
    public async Task A_viewer_that_falls_ten_seconds_behind_is_dropped_and_holds_nothing()
    {
        // The feed alone, sampled by hand: no timing involved.
        var options = new FastWsOptions();
        await using var state = new ServerState(options);
        DashboardFeed feed = state.Dashboard;
        using DashboardViewer reading = feed.Join()!;
        using DashboardViewer stalled = feed.Join()!;
        Assert.Equal(2, feed.ViewerCount);

        for (int second = 0; second < DashboardViewer.QueueCapacity; second++)
        {
            feed.Sample();
            Assert.True(reading.Events.TryRead(out _));
        }

        Assert.False(stalled.WasDropped);
        feed.Sample(); // one more than it can hold
        Assert.True(stalled.WasDropped);
        Assert.True(stalled.Dropped.IsCancellationRequested);
        Assert.Equal(1, feed.ViewerCount);
        Assert.True(reading.Events.TryRead(out _));
        Assert.False(reading.WasDropped);

        // Its queue is complete: the stream drains what it has and ends.
        int left = 0;
        while (stalled.Events.TryRead(out _))
        {
            left++;
        }

        Assert.Equal(DashboardViewer.QueueCapacity, left);
        Assert.True(stalled.Events.Completion.IsCompleted);
        Assert.Equal(DashboardViewer.QueueCapacity + 1, feed.History().Length);
    }

    [Fact]
    public async Task The_history_keeps_five_minutes_and_at_most_64_viewers_are_served()
    {
        await using var state = new ServerState(new FastWsOptions());
        DashboardFeed feed = state.Dashboard;
        for (int i = 0; i < DashboardFeed.Seconds + 20; i++)
        {
            feed.Sample();
        }

        Assert.Equal(DashboardFeed.Seconds, feed.History().Length);

        var viewers = new List<DashboardViewer>();
        for (int i = 0; i < DashboardFeed.MaxViewers; i++)
        {
            viewers.Add(feed.Join()!);
        }

        Assert.Null(feed.Join());
        viewers[0].Dispose();
        using DashboardViewer again = feed.Join()!;
        Assert.NotNull(again);
        // The opening events: retry, the whole history and the status.
        string opening = Encoding.UTF8.GetString(again.Backlog);
        Assert.StartsWith("retry: 2000\n\nevent: history\ndata: {\"seconds\":300,\"samples\":[{", opening);
        Assert.Contains("\n\nevent: status\ndata: {", opening);
        Assert.EndsWith("}\n\n", opening);
        foreach (DashboardViewer viewer in viewers)
        {
            viewer.Dispose();
        }
    }

    [Fact]
    public async Task The_page_is_one_self_contained_document_with_the_ids_the_browser_test_reads()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient { Timeout = TestServer.DefaultTimeout };
        using HttpResponseMessage response = await http.GetAsync(server.HttpUri);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        string csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("connect-src 'self'", csp);
        string html = await response.Content.ReadAsStringAsync();
        foreach (string id in new[] { "connections", "messages-out-rate", "messages-in-rate", "connections-rows", "connections-total", "filter-channel", "top-channels", "limits" })
        {
            Assert.Contains($"id=\"{id}\"", html);
        }

        // Nothing from elsewhere: no external script, style, font or image.
        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("href=\"http", html);
        Assert.DoesNotContain("@import", html);
        Assert.DoesNotContain("url(", html);
    }

    private static void AssertStatus(JsonElement status, int connections)
    {
        Assert.Equal(connections, status.GetProperty("connections").GetInt64());
        Assert.Equal("epoll", status.GetProperty("transport").GetString());
        Assert.False(status.GetProperty("shuttingDown").GetBoolean());
        JsonElement totals = status.GetProperty("totals");
        foreach (string counter in new[] { "messagesSkipped", "slowConsumerCloses", "handshakeFailures", "authFailures", "messagesOut", "published" })
        {
            Assert.True(totals.TryGetProperty(counter, out _), counter);
        }

        Assert.Equal(JsonValueKind.Object, status.GetProperty("handshakeFailures").ValueKind);
        Assert.Equal(JsonValueKind.Object, status.GetProperty("authFailures").ValueKind);
        Assert.Equal(JsonValueKind.Object, status.GetProperty("closesByCode").ValueKind);
        JsonElement memory = status.GetProperty("memory");
        Assert.True(memory.GetProperty("workingSetBytes").GetInt64() > 0);
        Assert.True(memory.GetProperty("gcHeapBytes").GetInt64() > 0);
        JsonElement connectionLimit = status.GetProperty("limits").EnumerateArray().Single(l => l.GetProperty("setting").GetString() == "Limits:MaxConnections");
        Assert.Equal(0, connectionLimit.GetProperty("limit").GetInt64()); // switched off by the test server
        Assert.Equal(connections, connectionLimit.GetProperty("current").GetInt64());
    }

    private static async Task PublishSteadilyAsync(TestServer server, string channel, int perSecond, CancellationToken stop)
    {
        byte[] data = """{"price":1}"""u8.ToArray();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1000.0 / perSecond));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await server.Server.Publisher.PublishAsync(channel, data, stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Reads server-sent events line by line (UTF-8), each wait bounded.</summary>
    private sealed class EventReader(Stream stream) : IAsyncDisposable
    {
        private readonly StreamReader _reader = new(stream, Encoding.UTF8);

        public async Task<string> ReadLineAsync()
        {
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            return await _reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("the event stream ended");
        }

        /// <summary>One event: its <c>event:</c> name and its one <c>data:</c> line as JSON; the blank line after it is consumed.</summary>
        public async Task<(string Name, JsonElement Data)> ReadEventAsync()
        {
            string eventLine = await ReadLineAsync();
            Assert.StartsWith("event: ", eventLine);
            string dataLine = await ReadLineAsync();
            Assert.StartsWith("data: ", dataLine);
            Assert.Equal("", await ReadLineAsync());
            using JsonDocument data = JsonDocument.Parse(dataLine["data: ".Length..]);
            return (eventLine["event: ".Length..], data.RootElement.Clone());
        }

        public ValueTask DisposeAsync()
        {
            _reader.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
