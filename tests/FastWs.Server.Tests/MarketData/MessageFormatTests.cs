using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.MarketData;

/// <summary>Inline and envelope formats per namespace, and the object-only rule of inline namespaces.</summary>
public sealed class MessageFormatTests
{
    [Fact]
    public async Task Inline_namespaces_deliver_the_published_object_with_channel_and_seq_appended()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "trades:SOL", "market_data");

        await server.Server.Publisher.PublishAsync("trades:SOL", """{"type":"trade","slab":"SOL","side":"buy","size":2,"price":1.5,"timestamp":7}""");
        await server.Server.Publisher.PublishAsync("trades:SOL", " { } \n");
        await server.Server.Publisher.PublishAsync("market_data", """{"a":{"b":[1,{}]}}  """);

        Assert.Equal("""{"type":"trade","slab":"SOL","side":"buy","size":2,"price":1.5,"timestamp":7,"channel":"trades:SOL","seq":1}""", await client.ReceiveAsync());
        Assert.Equal(""" { "channel":"trades:SOL","seq":2}""", await client.ReceiveAsync());
        Assert.Equal("""{"a":{"b":[1,{}]},"channel":"market_data","seq":1}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task A_namespace_can_keep_the_envelope()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Namespaces["trades"].Format = MessageFormat.Envelope, marketDataDefaults: true);
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "trades:SOL");

        await server.Server.Publisher.PublishAsync("trades:SOL", "[1,2]");

        Assert.Equal("""{"type":"message","channel":"trades:SOL","seq":1,"data":[1,2]}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Publishing_anything_but_an_object_to_an_inline_namespace_is_refused_everywhere()
    {
        await using TestServer server = await TestServer.StartAsync(marketDataDefaults: true);
        await using TestClient subscriber = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "trades:SOL");
        await using TestClient publisher = await server.ConnectAsync();

        // Over WebSocket: bad_request naming the rule.
        await publisher.SendAsync("""{"type":"publish","channel":"trades:SOL","data":[1],"id":1}""");
        JsonElement error = await publisher.ReceiveTypeAsync("error");
        Assert.Equal("bad_request", error.GetProperty("code").GetString());
        Assert.Contains("must be a JSON object", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        // Over HTTP: 400, and nothing of the batch is published.
        using var http = new HttpClient { BaseAddress = server.HttpUri };
        using HttpResponseMessage response = await http.PostAsJsonAsync("/api/publish", new object[]
        {
            new { channel = "trades:SOL", data = new { ok = true } },
            new { channel = "trades:SOL", data = "text" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("message 1", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // In process: the outcome says why.
        Assert.Equal(FanOut.PublishOutcome.NotAnObject, (await server.Server.Publisher.PublishAsync("trades:SOL", "42")).Outcome);

        await subscriber.AssertNoMessageAsync(TimeSpan.FromMilliseconds(300));
    }
}
