using System.Net.WebSockets;
using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Auth;

/// <summary>Shared steps of the identity tests.</summary>
internal static class AuthKit
{
    public const WebSocketCloseStatus InvalidToken = (WebSocketCloseStatus)4001;
    public const WebSocketCloseStatus TokenExpired = (WebSocketCloseStatus)4002;

    /// <summary>Connects with the token in <c>Authorization: Bearer</c>.</summary>
    public static Task<TestClient> ConnectWithHeaderAsync(TestServer server, string token, string? query = null) =>
        TestClient.ConnectAsync(query is null ? server.WebSocketUri : server.WebSocketUriWithQuery(query),
            o => o.SetRequestHeader("Authorization", "Bearer " + token));

    /// <summary>Connects with the token in the URL, the seed servers' form.</summary>
    public static Task<TestClient> ConnectWithQueryAsync(TestServer server, string token, string? more = null) =>
        server.ConnectAsync("token=" + Uri.EscapeDataString(token) + (more is null ? string.Empty : "&" + more));

    /// <summary>Subscribes to one channel and returns whether it was subscribed (true) or refused with an error (false, and the error).</summary>
    public static async Task<(bool Subscribed, JsonElement Reply)> TrySubscribeAsync(TestClient client, string channel, int id = 1)
    {
        await client.SendAsync($$"""{"type":"subscribe","channels":["{{channel}}"],"id":{{id}}}""");
        JsonElement first = await client.ReceiveJsonAsync();
        if (first.GetProperty("type").GetString() == "error")
        {
            JsonElement ack = await client.ReceiveTypeAsync("subscribed");
            Assert.Equal(0, ack.GetProperty("channels").GetArrayLength());
            return (false, first);
        }

        Assert.Equal("subscribed", first.GetProperty("type").GetString());
        Assert.Equal([channel], first.GetProperty("channels").EnumerateArray().Select(c => c.GetString()));
        return (true, first);
    }

    /// <summary>Asserts that the connection is treated as <paramref name="user"/>: the owner-only channel of that user is open to it.</summary>
    public static async Task AssertIsUserAsync(TestClient client, string user)
    {
        (bool subscribed, JsonElement reply) = await TrySubscribeAsync(client, "user:" + user, id: 99);
        Assert.True(subscribed, $"Expected to be {user}: {reply}");
    }

    /// <summary>Waits for the server to close the connection with 4001 and returns the reason.</summary>
    public static async Task<string> AssertRefusedAsync(TestClient client)
    {
        await client.AssertClosedWithAsync(InvalidToken);
        return client.CloseDescription ?? string.Empty;
    }
}
