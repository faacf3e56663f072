using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.MarketData;

/// <summary>
/// A test client that follows one channel's stream the way a recovering front end does: it keeps the position from
/// <c>subscribed</c> and every message's <c>seq</c>, and checks that each message is exactly the next one (a
/// snapshot or replay may restart the count only where the protocol says so).
/// </summary>
internal sealed class StreamClient : IAsyncDisposable
{
    private readonly TestServer _server;
    private readonly string _channel;

    private StreamClient(TestServer server, string channel, TestClient client)
    {
        _server = server;
        _channel = channel;
        Client = client;
    }

    public TestClient Client { get; private set; }

    public string? Epoch { get; private set; }

    /// <summary>The last seq this client has (from the ack's position, a snapshot, a replay or live).</summary>
    public long Seq { get; private set; }

    public int Received { get; private set; }

    /// <summary>Gap notices (messages skipped while this client read too slowly) recovered with since.</summary>
    public int GapsRecovered { get; private set; }

    public static async Task<StreamClient> SubscribeAsync(TestServer server, string channel)
    {
        var stream = new StreamClient(server, channel, await server.ConnectAsync());
        await stream.SubscribeAsync(since: false);
        return stream;
    }

    /// <summary>Drops the connection without a close frame and subscribes again with <c>since</c>; returns the ack.</summary>
    public async Task<JsonElement> ReconnectAsync()
    {
        await Client.DisposeAsync();
        Client = await _server.ConnectAsync();
        return await SubscribeAsync(since: true);
    }

    /// <summary>Subscribes (with <c>since</c> when asked and known) and reads the ack; returns it.</summary>
    public async Task<JsonElement> SubscribeAsync(bool since)
    {
        string sinceJson = since && Epoch is not null ? $$$$""","since":{"{{{{_channel}}}}":{"epoch":"{{{{Epoch}}}}","seq":{{{{Seq}}}}}}""" : string.Empty;
        await Client.SendAsync($$"""{"type":"subscribe","channels":["{{_channel}}"]{{sinceJson}}}""");
        JsonElement ack = await Client.ReceiveTypeAsync("subscribed");
        JsonElement position = ack.GetProperty("positions").GetProperty(_channel);
        bool recovered = ack.TryGetProperty("recovered", out JsonElement list) && list.EnumerateArray().Any(c => c.GetString() == _channel);
        if (!recovered)
        {
            // A fresh start: the stream begins after the position (a snapshot, if any, is the message at it).
            Epoch = position.GetProperty("epoch").GetString();
            Seq = position.GetProperty("seq").GetInt64();
            _snapshotExpectedAt = Seq;
        }

        return ack;
    }

    private long _snapshotExpectedAt = -1;

    /// <summary>Reads the next message and checks it continues the stream; returns it.</summary>
    public async Task<JsonElement> NextAsync(TimeSpan? timeout = null)
    {
        JsonElement message = await Client.ReceiveJsonAsync(timeout);
        while (message.TryGetProperty("type", out JsonElement type) && type.GetString() == "gap")
        {
            // Too slow a reader on a busy machine: messages were skipped (a slow consumer, not a seam) and the server
            // says exactly which. Recover them as a front end would, from history, with since.
            Assert.Equal(_channel, message.GetProperty("channel").GetString());
            Assert.Equal(Seq + 1, message.GetProperty("from").GetInt64());
            GapsRecovered++;
            JsonElement ack = await ReconnectAsync();
            Assert.Contains(_channel, ack.GetProperty("recovered").EnumerateArray().Select(c => c.GetString()));
            message = await Client.ReceiveJsonAsync(timeout);
        }

        long seq = message.GetProperty("seq").GetInt64();
        Assert.Equal(_channel, message.GetProperty("channel").GetString());
        if (message.TryGetProperty("snapshot", out JsonElement snapshot) && snapshot.GetBoolean())
        {
            Assert.Equal(_snapshotExpectedAt, seq);
            _snapshotExpectedAt = -1;
            return message;
        }

        _snapshotExpectedAt = -1;
        Assert.True(seq == Seq + 1, $"{_channel}: seq {seq} after {Seq} (gap or duplicate)");
        Seq = seq;
        Received++;
        return message;
    }

    public async ValueTask DisposeAsync() => await Client.DisposeAsync();
}
