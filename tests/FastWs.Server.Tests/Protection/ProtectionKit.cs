using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using FastWs.Server.FanOut;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Protection;

/// <summary>Shared pieces of the protection tests: HTTP reads, raw socket moves, and the "nothing left behind" check.</summary>
internal static class ProtectionKit
{
    private static readonly HttpClient Http = new() { Timeout = TestServer.DefaultTimeout };

    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(TestServer server, string path)
    {
        using HttpResponseMessage response = await Http.GetAsync(new Uri(server.HttpUri, path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static Task<(HttpStatusCode Status, string Body)> GetAsync(Uri baseUri, string path) => GetAsync(new Uri(baseUri, path));

    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(Uri uri)
    {
        using HttpResponseMessage response = await Http.GetAsync(uri);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>GET /ws/stats, parsed.</summary>
    public static async Task<JsonElement> StatsAsync(TestServer server)
    {
        (HttpStatusCode status, string body) = await GetAsync(server, "/ws/stats");
        Assert.Equal(HttpStatusCode.OK, status);
        using JsonDocument document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>Waits until the server holds no connection state of any kind: connections, channels, limiter slots, key groups, pending upgrades.</summary>
    public static Task AssertNothingLeftAsync(TestServer server) =>
        TestServer.WaitUntilAsync(
            () => server.State.Connections.Count == 0
                && server.State.Metrics.ConnectionsActive == 0
                && server.State.Channels.Count == 0
                && server.State.ConnectionLimiter.Total == 0
                && server.State.ConnectionLimiter.DistinctIps == 0
                && server.State.PendingHandshakes.Count == 0
                && server.State.KeyGroups.GroupCount == 0,
            () => "no state left: " + Describe(server));

    public static string Describe(TestServer server) =>
        $"connections {server.State.Connections.Count}, active {server.State.Metrics.ConnectionsActive}, channels {server.State.Channels.Count}, " +
        $"limiter {server.State.ConnectionLimiter.Total} over {server.State.ConnectionLimiter.DistinctIps} IPs, pending handshakes {server.State.PendingHandshakes.Count}, " +
        $"key groups {server.State.KeyGroups.GroupCount}";

    /// <summary>Makes disposing the socket send a TCP reset instead of a FIN.</summary>
    public static void ResetOnClose(Socket socket) => socket.LingerState = new LingerOption(true, 0);

    /// <summary>
    /// Reads whatever the server sends until it closes the connection (EOF or reset); fails after <paramref name="timeout"/>.
    /// Returns the bytes read (an HTTP error response, or nothing).
    /// </summary>
    public static async Task<byte[]> ReadUntilClosedAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new MemoryStream();
        byte[] buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }

                received.Write(buffer, 0, n);
            }
        }
        catch (SocketException)
        {
            // Reset: closed too.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The server did not close the connection within {timeout.TotalSeconds:0.#} s (got {received.Length} bytes: '{Encoding.ASCII.GetString(received.ToArray())}')");
        }

        return received.ToArray();
    }

    /// <summary>
    /// A client frame built by hand, so it can break any rule: <paramref name="first"/> is the FIN/RSV/opcode byte,
    /// the payload is masked unless <paramref name="masked"/> is false.
    /// </summary>
    public static byte[] Frame(byte first, ReadOnlySpan<byte> payload, bool masked = true)
    {
        var frame = new List<byte> { first };
        byte maskBit = masked ? (byte)0x80 : (byte)0;
        if (payload.Length <= 125)
        {
            frame.Add((byte)(maskBit | payload.Length));
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            frame.Add((byte)(maskBit | 126));
            frame.Add((byte)(payload.Length >> 8));
            frame.Add((byte)payload.Length);
        }
        else
        {
            frame.Add((byte)(maskBit | 127));
            for (int shift = 56; shift >= 0; shift -= 8)
            {
                frame.Add((byte)((long)payload.Length >> shift));
            }
        }

        byte[] mask = [0x37, 0xFA, 0x21, 0x3D];
        if (masked)
        {
            frame.AddRange(mask);
        }

        for (int i = 0; i < payload.Length; i++)
        {
            frame.Add(masked ? (byte)(payload[i] ^ mask[i & 3]) : payload[i]);
        }

        return frame.ToArray();
    }

    public static byte[] ClosePayload(ushort code, ReadOnlySpan<byte> reason = default)
    {
        byte[] payload = new byte[2 + reason.Length];
        payload[0] = (byte)(code >> 8);
        payload[1] = (byte)code;
        reason.CopyTo(payload.AsSpan(2));
        return payload;
    }
}

/// <summary>
/// A well-behaved client subscribed to one channel while a test abuses the server, with messages published to it
/// steadily in-process: at the end it must have received every one of them, in order, with no gap in seq.
/// </summary>
internal sealed class Bystander : IAsyncDisposable
{
    public const string Channel = "bench:bystander";

    private readonly TestServer _server;
    private readonly TestClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<int> _publisher;

    private Bystander(TestServer server, TestClient client)
    {
        _server = server;
        _client = client;
        _publisher = Task.Run(PublishAsync);
    }

    public static async Task<Bystander> StartAsync(TestServer server)
    {
        TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, Channel);
        return new Bystander(server, client);
    }

    /// <summary>Stops publishing, checks that every message arrived in order, then closes the client cleanly.</summary>
    public async Task VerifyAndCloseAsync()
    {
        await _stop.CancelAsync();
        int published = await _publisher.WaitAsync(TestServer.DefaultTimeout);
        Assert.True(published > 0, "The bystander's publisher published nothing");

        // The fan-out loop still works after the abuse: one more message right behind the others.
        Assert.Equal(PublishOutcome.Queued, (await _server.Server.Publisher.PublishAsync(Channel, "\"after\"")).Outcome);
        for (int n = 1; n <= published; n++)
        {
            Assert.Equal($$$"""{"type":"message","channel":"{{{Channel}}}","seq":{{{n}}},"data":{"n":{{{n}}}}}""", await _client.ReceiveAsync());
        }

        Assert.Equal($$"""{"type":"message","channel":"{{Channel}}","seq":{{published + 1}},"data":"after"}""", await _client.ReceiveAsync());
        await _client.CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _publisher.WaitAsync(TestServer.DefaultTimeout);
        }
        catch (Exception)
        {
            // Reported by VerifyAndCloseAsync when the test got that far.
        }

        await _client.DisposeAsync();
        _stop.Dispose();
    }

    private async Task<int> PublishAsync()
    {
        int n = 0;
        while (!_stop.IsCancellationRequested)
        {
            n++;
            PublishResult result = await _server.Server.Publisher.PublishAsync(Channel, $$"""{"n":{{n}}}""");
            Assert.Equal(PublishOutcome.Queued, result.Outcome);
            await Task.Delay(2);
        }

        return n;
    }
}
