using System.Buffers;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.FanOut;

namespace FastWs.Server.Connections;

/// <summary>What became of a message or close addressed to one connection by id.</summary>
public enum ConnectionCommandResult
{
    /// <summary>Written to the connection (sent, or queued behind what it has not read yet).</summary>
    Sent,

    /// <summary>Not written: the connection is over its unsent-output limit, and like data the message is skipped.</summary>
    Skipped,

    /// <summary>No connection has this id (it never existed or has ended).</summary>
    NotFound,

    /// <summary>The connection is closing (a close frame went out or its output is gone): nothing more is sent.</summary>
    Closing,
}

/// <summary>
/// Sends to and closes single connections by their id (the <c>connectionId</c> of the <c>connected</c> message):
/// the in-process side of <c>POST /api/connections/{id}/send</c> and <c>/close</c>, and of the intents backend's
/// <c>send_to_connection</c>.
/// </summary>
public sealed class ConnectionControl
{
    private readonly ConnectionRegistry _connections;

    internal ConnectionControl(ConnectionRegistry connections)
    {
        _connections = connections;
    }

    /// <summary>Where closes by id are logged; set with the host's logging.</summary>
    internal Hosting.ServerEvents Log { get; set; } = Hosting.ServerEvents.None;

    /// <summary>
    /// Sends <paramref name="json"/> (exactly one JSON value, UTF-8) to one connection as a text frame, as given.
    /// A connection over its unsent-output limit skips it, as it skips data (<see cref="ConnectionCommandResult.Skipped"/>).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="json"/> is not one valid JSON value.</exception>
    public ConnectionCommandResult SendToConnection(string connectionId, ReadOnlySpan<byte> json)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        if (!MessagePublisher.IsSingleJsonValue(json))
        {
            throw new ArgumentException("Not one valid JSON value", nameof(json));
        }

        WebSocketConnection? connection = _connections.Find(connectionId);
        if (connection is null)
        {
            return ConnectionCommandResult.NotFound;
        }

        int size = FrameWriter.GetFrameSize(json.Length);
        byte[] rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            int length = FrameWriter.WriteFrame(rented, WebSocketOpcode.Text, json);
            switch (connection.WriteDirect(rented.AsSpan(0, length)))
            {
                case DataWrite.Skipped:
                    return ConnectionCommandResult.Skipped;
                case DataWrite.Closed:
                    return ConnectionCommandResult.Closing;
                case DataWrite.WrittenNeedsFlush:
                    connection.Flush();
                    return ConnectionCommandResult.Sent;
                default:
                    return ConnectionCommandResult.Sent;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Starts the close handshake with one connection: a close frame with <paramref name="code"/> and
    /// <paramref name="reason"/>, after which nothing more is sent to it.
    /// </summary>
    /// <exception cref="ArgumentException">The code may not be sent (only 1000 and 3000-4999 may), or the reason is over 123 UTF-8 bytes.</exception>
    public ConnectionCommandResult CloseConnection(string connectionId, ushort code, string reason)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(reason);
        if (ValidateClose(code, reason) is { } problem)
        {
            throw new ArgumentException(problem);
        }

        WebSocketConnection? connection = _connections.Find(connectionId);
        if (connection is null)
        {
            return ConnectionCommandResult.NotFound;
        }

        Log.ClosedById(connectionId, code, reason);
        return connection.TrySendClose(code, reason) ? ConnectionCommandResult.Sent : ConnectionCommandResult.Closing;
    }

    /// <summary>Null when <paramref name="code"/> and <paramref name="reason"/> may be sent in a close frame; else what is wrong.</summary>
    public static string? ValidateClose(ushort code, string reason)
    {
        if (code != CloseCode.NormalClosure && code is < 3000 or > 4999)
        {
            return "code must be 1000 or 3000-4999";
        }

        return Encoding.UTF8.GetByteCount(reason) > 123 ? "reason must be at most 123 UTF-8 bytes" : null;
    }
}
