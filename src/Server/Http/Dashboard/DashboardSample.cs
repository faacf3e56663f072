using System.Text.Json;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// One second of the dashboard's charts: the rates of the server's counters over that second (the supervisor's
/// <see cref="Metrics.RateHistory"/> sample), and the gauges read at its end.
/// </summary>
/// <param name="UnixMs">When the second ended (Unix milliseconds, UTC).</param>
/// <param name="Connections">Open WebSocket connections (a gauge).</param>
/// <param name="SlowConsumerCloses">Connections closed with 1013 for staying over the unsent-output limit, this second.</param>
/// <param name="GcHeapBytes">Managed heap after the last collection (a gauge).</param>
/// <param name="WorkingSetBytes">Resident memory of the process (a gauge).</param>
internal readonly record struct DashboardSample(
    long UnixMs,
    long Connections,
    long MessagesIn,
    long MessagesOut,
    long BytesIn,
    long BytesOut,
    long Published,
    long Skipped,
    long SlowConsumerCloses,
    long HandshakeFailures,
    long AuthFailures,
    long GcHeapBytes,
    long WorkingSetBytes)
{
    /// <summary>The sample as one JSON object; the names are the wire contract of <c>/api/dashboard/events</c> (docs/operations.md).</summary>
    public void WriteTo(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteNumber("t"u8, UnixMs);
        json.WriteNumber("connections"u8, Connections);
        json.WriteNumber("messagesInPerSec"u8, MessagesIn);
        json.WriteNumber("messagesOutPerSec"u8, MessagesOut);
        json.WriteNumber("bytesInPerSec"u8, BytesIn);
        json.WriteNumber("bytesOutPerSec"u8, BytesOut);
        json.WriteNumber("publishedPerSec"u8, Published);
        json.WriteNumber("skippedPerSec"u8, Skipped);
        json.WriteNumber("slowConsumerClosesPerSec"u8, SlowConsumerCloses);
        json.WriteNumber("handshakeFailuresPerSec"u8, HandshakeFailures);
        json.WriteNumber("authFailuresPerSec"u8, AuthFailures);
        json.WriteNumber("gcHeapBytes"u8, GcHeapBytes);
        json.WriteNumber("workingSetBytes"u8, WorkingSetBytes);
        json.WriteEndObject();
    }
}
