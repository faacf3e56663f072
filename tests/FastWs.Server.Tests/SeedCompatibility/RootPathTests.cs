using System.Net.WebSockets;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.SeedCompatibility;

/// <summary>Issue 17: the seed market-data server took upgrades on <c>/</c>; <c>Path=/</c> does the same.</summary>
public sealed class RootPathTests
{
    [Fact]
    public async Task Path_slash_accepts_upgrades_on_the_root_and_URL_subscriptions()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Path = "/");
        var root = new UriBuilder("ws", server.WebSocketEndPoint.Address.ToString(), server.WebSocketEndPoint.Port, "/").Uri;
        Assert.Equal(root, server.WebSocketUri);

        await using TestClient plain = await TestClient.ConnectAsync(root);
        await plain.SendAsync("""{"type":"ping"}""");
        Assert.Equal("""{"type":"pong"}""", await plain.ReceiveAsync());

        await using TestClient subscriber = await TestClient.ConnectAsync(new UriBuilder(root) { Query = "subscribe=price:SOL" }.Uri);
        Assert.Equal(["price:SOL"], SubscriptionTests.Channels(await subscriber.ReceiveTypeAsync("subscribed")));
        await server.Server.Publisher.PublishAsync("price:SOL", "1");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":1}""", await subscriber.ReceiveAsync());
    }

    [Fact]
    public async Task Path_slash_answers_404_to_an_upgrade_on_another_path()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Path = "/");
        await using RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);

        await client.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));
        RawHttpResponse response = await client.ReadHttpResponseAsync();

        Assert.Equal(404, response.StatusCode);
        Assert.Equal(0, await client.ReadToEndAsync());
        await Assert.ThrowsAsync<WebSocketException>(() => TestClient.ConnectAsync(new UriBuilder(server.WebSocketUri) { Path = "/prices" }.Uri));
        Assert.Equal(0, server.State.Connections.Count);
    }
}
