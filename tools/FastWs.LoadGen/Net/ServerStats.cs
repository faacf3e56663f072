using System.Text.Json;

namespace FastWs.LoadGen.Net;

/// <summary>
/// The numbers of FastWs's <c>GET /ws/stats</c> the conflation and history-memory scenarios report. Missing fields
/// read as 0 (an older server, or another implementation's stats).
/// </summary>
internal sealed record ServerStats
{
    public long ConflatedWaiting { get; init; }

    public long Channels { get; init; }

    public long HistoryChannels { get; init; }

    public long HistoryMessages { get; init; }

    public long HistoryDataBytes { get; init; }

    public long HistoryBufferBytes { get; init; }

    public long WorkingSetBytes { get; init; }

    /// <summary>The GC heap after the last collection (0 before the first one).</summary>
    public long GcHeapBytes { get; init; }

    public long GcCommittedBytes { get; init; }

    public long GcCount { get; init; }

    public long Published { get; init; }

    public long Conflated { get; init; }

    public long MessagesOut { get; init; }

    public long MessagesSkipped { get; init; }

    public long Snapshots { get; init; }

    /// <summary>WebSocket connections accepted since the server started (<c>counters.connectionsTotal</c>).</summary>
    public long ConnectionsTotal { get; init; }

    public long Recoveries { get; init; }

    public long RecoveryFailures { get; init; }

    public long MessagesReplayed { get; init; }

    public static ServerStats Parse(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using JsonDocument doc = JsonDocument.ParseValue(ref reader);
        JsonElement root = doc.RootElement;
        return new ServerStats
        {
            ConflatedWaiting = Number(root, "conflatedWaiting"),
            Channels = Number(root, "channels"),
            HistoryChannels = Number(root, "history", "channels"),
            HistoryMessages = Number(root, "history", "messages"),
            HistoryDataBytes = Number(root, "history", "dataBytes"),
            HistoryBufferBytes = Number(root, "history", "bufferBytes"),
            WorkingSetBytes = Number(root, "memory", "workingSetBytes"),
            GcHeapBytes = Number(root, "memory", "gcHeapBytes"),
            GcCommittedBytes = Number(root, "memory", "gcCommittedBytes"),
            GcCount = Number(root, "memory", "gcCount"),
            Published = Number(root, "counters", "published"),
            Conflated = Number(root, "counters", "conflated"),
            MessagesOut = Number(root, "counters", "messagesOut"),
            MessagesSkipped = Number(root, "counters", "messagesSkipped"),
            Snapshots = Number(root, "counters", "snapshots"),
            ConnectionsTotal = Number(root, "counters", "connectionsTotal"),
            Recoveries = Number(root, "counters", "recoveries"),
            RecoveryFailures = Number(root, "counters", "recoveryFailures"),
            MessagesReplayed = Number(root, "counters", "messagesReplayed"),
        };
    }

    private static long Number(JsonElement element, params string[] path)
    {
        foreach (string name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return 0;
            }
        }

        return element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long value) ? value : 0;
    }
}

/// <summary>Reads <c>/ws/stats</c> from a loopback URL (checked by the caller with <see cref="LoopbackGuard"/>).</summary>
internal sealed class StatsReader : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(5) };

    public StatsReader(Uri url) => Url = url;

    public Uri Url { get; }

    /// <summary>
    /// The default stats URL for a WebSocket URL: FastWs answers a plain <c>GET /ws/stats</c> on its WebSocket port
    /// too, so <c>ws://h:p/...</c> gives <c>http://h:p/ws/stats</c>. Null for <c>wss://</c> (give --stats-url).
    /// </summary>
    public static string? DefaultFor(Uri webSocketUrl) =>
        string.Equals(webSocketUrl.Scheme, "ws", StringComparison.OrdinalIgnoreCase)
            ? new UriBuilder(webSocketUrl) { Scheme = "http", Path = "/ws/stats", Query = "" }.Uri.ToString()
            : null;

    /// <summary>The stats, or null with the reason in <paramref name="error"/>.</summary>
    public async Task<(ServerStats? Stats, string? Error)> ReadAsync(CancellationToken ct)
    {
        try
        {
            using HttpResponseMessage response = await _client.GetAsync(Url, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return (null, $"GET {Url}: HTTP {(int)response.StatusCode}");
            }

            byte[] body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            return (ServerStats.Parse(body), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or IOException)
        {
            return (null, $"GET {Url}: {ex.Message}");
        }
    }

    public void Dispose() => _client.Dispose();
}
