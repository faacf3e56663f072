using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using FastWs.Server.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FastWs.Server.Http;

/// <summary>A plain HTTP request the WebSocket port answers besides upgrades.</summary>
internal enum WebSocketPortRequest
{
    None,
    Stats,
    Health,
    Ready,
}

/// <summary>
/// <c>GET /ws/stats</c>, <c>GET /healthz</c> and <c>GET /readyz</c> on the WebSocket port (issue 17: the seed
/// market-data server answered them there), with the status, content type and body the HTTP endpoint gives, from the
/// same functions. Everything else without an upgrade keeps the upgrade parser's answer (426, 400, ...).
/// </summary>
internal static class WebSocketPortRequests
{
    /// <summary>
    /// Which of the three a request is that the upgrade parser refused only for having no <c>Upgrade: websocket</c>
    /// (<see cref="Protocol.Handshake.UpgradeFailure.MissingUpgrade"/>). The parser has then checked the whole request
    /// head, so the first line is <c>GET target HTTP/1.1</c>; the path is compared as bytes, nothing is allocated.
    /// </summary>
    public static WebSocketPortRequest Match(in ReadOnlySequence<byte> request)
    {
        var reader = new SequenceReader<byte>(request);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> lineSequence, (byte)'\n') || lineSequence.Length > 256)
        {
            return WebSocketPortRequest.None; // none of the three paths has a long request line
        }

        Span<byte> scratch = stackalloc byte[256];
        lineSequence.CopyTo(scratch);
        ReadOnlySpan<byte> line = scratch[..(int)lineSequence.Length];
        if (!line.StartsWith("GET "u8))
        {
            return WebSocketPortRequest.None;
        }

        ReadOnlySpan<byte> target = line[4..];
        int end = target.IndexOfAny((byte)' ', (byte)'?');
        ReadOnlySpan<byte> path = end < 0 ? target : target[..end];
        return path.SequenceEqual("/ws/stats"u8) ? WebSocketPortRequest.Stats
            : path.SequenceEqual("/healthz"u8) ? WebSocketPortRequest.Health
            : path.SequenceEqual("/readyz"u8) ? WebSocketPortRequest.Ready
            : WebSocketPortRequest.None;
    }

    /// <summary>Writes the complete answer (with <c>Connection: close</c>: the connection is not reused) and flushes.</summary>
    public static async ValueTask<FlushResult> AnswerAsync(ServerState state, HealthCheckService health, WebSocketPortRequest request, PipeWriter output)
    {
        (int status, string contentType, byte[] body) = request switch
        {
            WebSocketPortRequest.Stats => (StatusCodesOk, StatsEndpoints.StatsContentType, StatsEndpoints.WriteStats(state)),
            WebSocketPortRequest.Health => Text(await HealthEndpoints.LivenessAsync(health).ConfigureAwait(false)),
            WebSocketPortRequest.Ready => Text(await HealthEndpoints.ReadinessAsync(health).ConfigureAwait(false)),
            _ => throw new ArgumentOutOfRangeException(nameof(request)),
        };

        string head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {(status == StatusCodesOk ? "OK" : "Service Unavailable")}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        output.Write(Encoding.ASCII.GetBytes(head));
        output.Write(body);
        return await output.FlushAsync().ConfigureAwait(false);
    }

    private const int StatusCodesOk = 200;

    private static (int, string, byte[]) Text((int Status, string Text) answer) =>
        (answer.Status, HealthEndpoints.ContentType, Encoding.UTF8.GetBytes(answer.Text));
}
