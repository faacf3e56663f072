using System.Buffers;
using System.Text;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Metrics;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// The dashboard's data: one <see cref="DashboardSample"/> a second for the last <see cref="Seconds"/> seconds, and
/// the viewers it is pushed to. The supervisor's tick samples it (<see cref="Sample"/>), right after the per-second
/// rates: one timer for the whole server, however many dashboards are open, and no work beyond the sample while none is.
/// Each second's event is serialized once and the same bytes go to every viewer.
/// </summary>
internal sealed class DashboardFeed
{
    /// <summary>Five minutes of history: what the charts show, and what a viewer gets as it joins.</summary>
    public const int Seconds = 300;

    /// <summary>Dashboards open at once; more are refused (503), as each costs a request and its queue.</summary>
    public const int MaxViewers = 64;

    private readonly ServerState _state;
    private readonly long _startedAtMs = Environment.TickCount64;

    // The ring and the viewer list change together under this lock, so a sample is either in a joining viewer's
    // history or pushed to it afterwards, never both and never neither.
    private readonly Lock _lock = new();
    private readonly DashboardSample[] _ring = new DashboardSample[Seconds];
    private int _next;
    private int _filled;
    private DashboardViewer[] _viewers = [];

    // Counter totals at the previous sample, for the per-second counts of the counters RateHistory does not keep.
    private long _skipped;
    private long _slowConsumerCloses;
    private long _handshakeFailures;
    private long _authFailures;

    public DashboardFeed(ServerState state)
    {
        _state = state;
    }

    public int ViewerCount => Volatile.Read(ref _viewers).Length;

    /// <summary>
    /// Takes this second's sample (called by the supervisor when <see cref="RateHistory.Sample"/> took one) and, while
    /// anyone watches, pushes it with the current status.
    /// </summary>
    internal void Sample()
    {
        ServerMetrics metrics = _state.Metrics;
        RateSample rates = metrics.Rates.Latest;
        long skipped = metrics.MessagesSkipped, slowCloses = metrics.SlowConsumerCloses;
        long handshakeFailures = metrics.HandshakeFailuresTotal, authFailures = metrics.AuthFailuresTotal;
        var sample = new DashboardSample(
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), metrics.ConnectionsActive,
            rates.MessagesIn, rates.MessagesOut, rates.BytesIn, rates.BytesOut, rates.Published,
            skipped - _skipped, slowCloses - _slowConsumerCloses, handshakeFailures - _handshakeFailures, authFailures - _authFailures,
            GC.GetGCMemoryInfo().HeapSizeBytes, Environment.WorkingSet);
        (_skipped, _slowConsumerCloses, _handshakeFailures, _authFailures) = (skipped, slowCloses, handshakeFailures, authFailures);

        DashboardViewer[] viewers;
        lock (_lock)
        {
            _ring[_next] = sample;
            _next = (_next + 1) % Seconds;
            _filled = Math.Min(_filled + 1, Seconds);
            viewers = _viewers;
        }

        if (viewers.Length == 0)
        {
            return;
        }

        byte[] tick = Event("tick", json =>
        {
            json.WriteStartObject();
            json.WritePropertyName("sample"u8);
            sample.WriteTo(json);
            json.WritePropertyName("status"u8);
            DashboardStatus.WriteTo(json, _state, _startedAtMs);
            json.WriteEndObject();
        });
        foreach (DashboardViewer viewer in viewers)
        {
            viewer.Offer(tick);
        }
    }

    /// <summary>The samples kept, oldest first.</summary>
    public DashboardSample[] History()
    {
        lock (_lock)
        {
            return HistoryLocked();
        }
    }

    /// <summary>A new viewer with its opening events (the history, then the status now); null when <see cref="MaxViewers"/> are open.</summary>
    public DashboardViewer? Join()
    {
        byte[] status = Event("status", json => DashboardStatus.WriteTo(json, _state, _startedAtMs));
        lock (_lock)
        {
            if (_viewers.Length >= MaxViewers)
            {
                return null;
            }

            DashboardSample[] history = HistoryLocked();
            byte[] backlog = Event("history", json =>
            {
                json.WriteStartObject();
                json.WriteNumber("seconds"u8, Seconds);
                json.WriteStartArray("samples"u8);
                foreach (DashboardSample sample in history)
                {
                    sample.WriteTo(json);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            });
            var viewer = new DashboardViewer(this, [.. RetryLine, .. backlog, .. status]);
            _viewers = [.. _viewers, viewer];
            return viewer;
        }
    }

    /// <summary>Removes a viewer (its stream ended, or it fell behind); idempotent.</summary>
    internal void Leave(DashboardViewer viewer)
    {
        lock (_lock)
        {
            int at = Array.IndexOf(_viewers, viewer);
            if (at >= 0)
            {
                _viewers = [.. _viewers[..at], .. _viewers[(at + 1)..]];
            }
        }
    }

    private DashboardSample[] HistoryLocked()
    {
        var copy = new DashboardSample[_filled];
        for (int i = 0; i < _filled; i++)
        {
            copy[i] = _ring[(_next - _filled + i + Seconds) % Seconds];
        }

        return copy;
    }

    /// <summary>How long a browser's EventSource waits before it reconnects (SSE <c>retry</c>, milliseconds).</summary>
    private static ReadOnlySpan<byte> RetryLine => "retry: 2000\n\n"u8;

    /// <summary>One server-sent event: <c>event: NAME</c>, one <c>data:</c> line of compact JSON (which has no line breaks), a blank line.</summary>
    private static byte[] Event(string name, Action<Utf8JsonWriter> writeData)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        buffer.Write(Encoding.UTF8.GetBytes($"event: {name}\ndata: "));
        using (var json = new Utf8JsonWriter(buffer))
        {
            writeData(json);
        }

        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
