using System.Text;
using System.Text.Json;
using FastWs.Protocol.Frames;
using FastWs.Server.FanOut;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>Publishing over WebSocket and in-process, the data message format, per-channel seq, ping and pong.</summary>
public sealed class PublishTests
{
    [Fact]
    public async Task Publish_over_WebSocket_reaches_a_subscriber_with_the_data_byte_for_byte()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient subscriber = await server.ConnectAsync();
        await using TestClient publisher = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(subscriber, "price:SOL");

        // Whitespace, key order, escapes and number spelling inside data must survive untouched.
        const string data = """{ "z" : 1.50E+2,  "a":[1, 2 ,{"k":"v\u00e9\n"}],"s":"\"q\"" , "n":null }""";
        await publisher.SendAsync($$"""{"type":"publish","channel":"price:SOL","data":{{data}}}""");

        Assert.Equal($$"""{"type":"message","channel":"price:SOL","seq":1,"data":{{data}}}""", await subscriber.ReceiveAsync());
    }

    [Theory]
    [InlineData("42")]
    [InlineData("-0.5e-3")]
    [InlineData("\"just a string\"")]
    [InlineData("[1,[2,[3]]]")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("{}")]
    public async Task Any_JSON_value_is_carried_verbatim(string data)
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "bench:1");

        await client.SendAsync($$"""{"type":"publish","channel":"bench:1","data":{{data}}}""");

        Assert.Equal($$"""{"type":"message","channel":"bench:1","seq":1,"data":{{data}}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task Seq_counts_up_per_channel()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await using TestClient publisher = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, "price:SOL", "trades:SOL");
        await SubscriptionTests.Subscribe(b, "price:SOL");

        string[] order = ["price:SOL", "trades:SOL", "price:SOL", "price:SOL", "trades:SOL"];
        for (int i = 0; i < order.Length; i++)
        {
            await publisher.SendAsync($$$"""{"type":"publish","channel":"{{{order[i]}}}","data":{"i":{{{i}}}}}""");
        }

        var lastSeq = new Dictionary<string, long>();
        var seenByA = new List<(string Channel, long Seq, int I)>();
        for (int i = 0; i < order.Length; i++)
        {
            JsonElement message = await a.ReceiveTypeAsync("message");
            seenByA.Add((message.GetProperty("channel").GetString()!, message.GetProperty("seq").GetInt64(), message.GetProperty("data").GetProperty("i").GetInt32()));
        }

        // Per channel, messages arrive in publish order with seq 1, 2, 3...
        foreach (IGrouping<string, (string Channel, long Seq, int I)> channel in seenByA.GroupBy(m => m.Channel))
        {
            Assert.Equal(Enumerable.Range(1, channel.Count()).Select(n => (long)n), channel.Select(m => m.Seq));
            int[] expected = order.Select((c, i) => (c, i)).Where(x => x.c == channel.Key).Select(x => x.i).ToArray();
            Assert.Equal(expected, channel.Select(m => m.I));
        }

        // Another subscriber of the same channel sees the same numbers.
        for (int n = 1; n <= 3; n++)
        {
            JsonElement message = await b.ReceiveTypeAsync("message");
            Assert.Equal("price:SOL", message.GetProperty("channel").GetString());
            Assert.Equal(n, message.GetProperty("seq").GetInt64());
        }
    }

    [Fact]
    public async Task The_publisher_gets_its_own_message_when_subscribed()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "bench:abc");

        await client.SendAsync("""{"type":"publish","channel":"bench:abc","data":[1]}""");

        Assert.Equal("""{"type":"message","channel":"bench:abc","seq":1,"data":[1]}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task In_process_publish_reaches_subscribers_and_reports_the_count()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, "funding:SOL");
        await SubscriptionTests.Subscribe(b, "funding:SOL");

        PublishResult result = await server.Server.Publisher.PublishAsync("funding:SOL", Encoding.UTF8.GetBytes("""{"rate": 0.0001}"""));

        Assert.Equal(PublishOutcome.Queued, result.Outcome);
        Assert.Equal(2, result.Subscribers);
        Assert.Equal("""{"type":"message","channel":"funding:SOL","seq":1,"data":{"rate": 0.0001}}""", await a.ReceiveAsync());
        Assert.Equal("""{"type":"message","channel":"funding:SOL","seq":1,"data":{"rate": 0.0001}}""", await b.ReceiveAsync());

        Assert.Equal(PublishOutcome.NoSubscribers, (await server.Server.Publisher.PublishAsync("funding:ETH", "1")).Outcome);
        Assert.Equal(PublishOutcome.InvalidData, (await server.Server.Publisher.PublishAsync("funding:SOL", "{oops")).Outcome);
        Assert.Equal(PublishOutcome.UnknownNamespace, (await server.Server.Publisher.PublishAsync("nope:SOL", "1")).Outcome);
        Assert.Equal(PublishOutcome.InvalidChannel, (await server.Server.Publisher.PublishAsync("bad name", "1")).Outcome);
        await a.AssertNoMessageAsync(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Json_ping_gets_a_json_pong()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using TestClient client = await server.ConnectAsync();

        await client.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await client.ReceiveAsync());

        await client.SendAsync("""{"type":"ping","id":3}""");
        JsonElement pong = await client.ReceiveTypeAsync("pong");
        Assert.Equal(3, pong.GetProperty("id").GetInt32());
    }

    [Fact]
    public async Task Ping_frame_gets_a_pong_frame_with_the_same_payload()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using RawClient client = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint);

        await client.SendFrameAsync(WebSocketOpcode.Ping, "are you there?"u8);
        RawFrame pong = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Pong, pong.Type);
        Assert.Equal("are you there?", pong.Text);

        await client.SendFrameAsync(WebSocketOpcode.Ping, ReadOnlySpan<byte>.Empty);
        pong = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Pong, pong.Type);
        Assert.Empty(pong.Payload);

        // A ping in the middle of a fragmented message is answered too, and the message still arrives whole.
        await client.SendAsync(RawClient.MaskedFrame(WebSocketOpcode.Text, "{\"type\":\"pi"u8, fin: false));
        await client.SendFrameAsync(WebSocketOpcode.Ping, "mid"u8);
        await client.SendAsync(RawClient.MaskedFrame(WebSocketOpcode.Continuation, "ng\"}"u8));
        pong = await client.ReadFrameAsync();
        Assert.Equal(WebSocketMessageType.Pong, pong.Type);
        Assert.Equal("mid", pong.Text);
        Assert.Equal("""{"type":"pong"}""", await client.ReadTextAsync());
    }
}
