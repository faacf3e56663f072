using System.Net;
using System.Text;
using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>POST /api/publish: one message or an array, 202 with counts; any bad element means 400 and nothing published.</summary>
public sealed class HttpPublishTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task Single_message_gets_202_with_counts_and_reaches_the_subscriber()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");
        using HttpClient http = NewHttpClient(server);

        (HttpStatusCode status, JsonElement body) = await PostAsync(http, """{"channel":"price:SOL","data":{"p": 1.25, "ts":[1,2]}}""");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(1, body.GetProperty("accepted").GetInt32());
        Assert.Equal(1, body.GetProperty("queued").GetInt32());
        Assert.Equal(1, body.GetProperty("subscribers").GetInt32());
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p": 1.25, "ts":[1,2]}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Array_gets_202_with_counts_and_every_message_is_delivered_in_order()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, "price:SOL", "trades:SOL");
        await SubscriptionTests.Subscribe(b, "price:SOL");
        using HttpClient http = NewHttpClient(server);

        (HttpStatusCode status, JsonElement body) = await PostAsync(http, """
            [
              {"channel":"price:SOL","data":1},
              {"channel":"trades:SOL","data":{"side":"buy"}},
              {"channel":"price:SOL","data":2},
              {"channel":"funding:SOL","data":3}
            ]
            """);

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal(4, body.GetProperty("accepted").GetInt32());
        Assert.Equal(3, body.GetProperty("queued").GetInt32()); // funding:SOL has no subscribers
        Assert.Equal(2 + 1 + 2, body.GetProperty("subscribers").GetInt32());

        var receivedByA = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            receivedByA.Add(await a.ReceiveAsync());
        }

        Assert.Equal(
            [
                """{"type":"message","channel":"price:SOL","seq":1,"data":1}""",
                """{"type":"message","channel":"price:SOL","seq":2,"data":2}""",
            ],
            receivedByA.Where(m => m.Contains("price:SOL", StringComparison.Ordinal)));
        Assert.Contains("""{"type":"message","channel":"trades:SOL","seq":1,"data":{"side":"buy"}}""", receivedByA);
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":1}""", await b.ReceiveAsync());
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":2,"data":2}""", await b.ReceiveAsync());
        await b.AssertNoMessageAsync(Quiet);
    }

    [Theory]
    [InlineData("""{"channel":"price:SOL","data":""", "invalid JSON")]
    [InlineData("", "empty body")]
    [InlineData("42", "not an object")]
    [InlineData("[]", "empty array")]
    [InlineData("""[{"channel":"price:SOL","data":1},{"channel":"price:SOL"}]""", "missing data in one element")]
    [InlineData("""[{"channel":"price:SOL","data":1},{"channel":"price:SOL!","data":2}]""", "invalid channel in one element")]
    [InlineData("""[{"channel":"price:SOL","data":1},{"channel":"nope:SOL","data":2}]""", "unknown namespace in one element")]
    [InlineData("""[{"channel":"price:SOL","data":1},{"data":2}]""", "missing channel in one element")]
    [InlineData("""[{"channel":"price:SOL","data":1},{"channel":5,"data":2}]""", "non-string channel in one element")]
    [InlineData("""[{"channel":"price:SOL","data":1},"x"]""", "non-object element")]
    [InlineData("""{"channel":"price:SOL"}""", "missing data")]
    public async Task Bad_input_gets_400_with_a_reason_and_nothing_is_published(string body, string because)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");
        using HttpClient http = NewHttpClient(server);
        long publishedBefore = server.State.Metrics.Published;

        using HttpResponseMessage response = await http.PostAsync("/api/publish", new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{because}: expected 400, got {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using (JsonDocument error = JsonDocument.Parse(text))
        {
            Assert.Equal(400, error.RootElement.GetProperty("status").GetInt32());
            Assert.Equal("Bad Request", error.RootElement.GetProperty("title").GetString());
            Assert.StartsWith("https://", error.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(error.RootElement.GetProperty("detail").GetString()), because);
        }

        await client.AssertNoMessageAsync(Quiet);
        Assert.Equal(publishedBefore, server.State.Metrics.Published);
    }

    [Fact]
    public async Task Forbidden_namespace_gets_403_and_nothing_is_published()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
            o.Namespaces["locked"] = new Hosting.NamespaceOptions { Publish = FastWs.Server.Auth.AccessPolicy.Nobody });
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "locked:x", "price:SOL");
        using HttpClient http = NewHttpClient(server);

        (HttpStatusCode status, _) = await PostAsync(http, """[{"channel":"price:SOL","data":1},{"channel":"locked:x","data":2}]""");

        Assert.Equal(HttpStatusCode.Forbidden, status);
        await client.AssertNoMessageAsync(Quiet);
    }

    [Fact]
    public async Task Http_and_WebSocket_publishes_share_one_sequence_per_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "bench:seq");
        using HttpClient http = NewHttpClient(server);

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(http, """{"channel":"bench:seq","data":"http"}""")).Status);
        Assert.Equal("""{"type":"message","channel":"bench:seq","seq":1,"data":"http"}""", await client.ReceiveAsync());
        await client.SendAsync("""{"type":"publish","channel":"bench:seq","data":"ws"}""");
        Assert.Equal("""{"type":"message","channel":"bench:seq","seq":2,"data":"ws"}""", await client.ReceiveAsync());
        await server.Server.Publisher.PublishAsync("bench:seq", "\"api\"");
        Assert.Equal("""{"type":"message","channel":"bench:seq","seq":3,"data":"api"}""", await client.ReceiveAsync());
    }

    private static HttpClient NewHttpClient(TestServer server) => new() { BaseAddress = server.HttpUri, Timeout = TestServer.DefaultTimeout };

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, string json)
    {
        using HttpResponseMessage response = await http.PostAsync("/api/publish", new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        using JsonDocument document = JsonDocument.Parse(text);
        return (response.StatusCode, document.RootElement.Clone());
    }
}
