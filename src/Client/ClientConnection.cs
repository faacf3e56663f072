using System.Diagnostics;
using System.Net.WebSockets;

namespace FastWs.Client;

/// <summary>One socket of a <see cref="FastWsClient"/> and its liveness clock: what the watchdog looks at.</summary>
internal sealed class ClientConnection(ClientWebSocket socket, string? token)
{
    private long _lastFrame = Stopwatch.GetTimestamp();
    private long _connectedAt;
    private volatile bool _pingSent;
    private volatile bool _delivering;
    private volatile string? _abortReason;

    public ClientWebSocket Socket { get; } = socket;

    /// <summary>The token this socket presented (to tell a 4001 for it from one a new token would not get).</summary>
    public string? Token { get; } = token;

    public long StartedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>When the server's <c>connected</c> message came; 0 before.</summary>
    public long ConnectedAt
    {
        get => Volatile.Read(ref _connectedAt);
        set => Volatile.Write(ref _connectedAt, value);
    }

    public bool IsConnected => ConnectedAt != 0;

    public TimeSpan Silent => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastFrame));

    /// <summary>The liveness ping went out and nothing has arrived since.</summary>
    public bool PingSent
    {
        get => _pingSent;
        set => _pingSent = value;
    }

    /// <summary>
    /// The receive loop is handing a message to a full subscription buffer: the silence is the reader's, not the
    /// server's, so the watchdog does not count it.
    /// </summary>
    public bool Delivering
    {
        get => _delivering;
        set => _delivering = value;
    }

    /// <summary>Why the client dropped this socket itself (liveness, timeouts); null otherwise.</summary>
    public string? AbortReason => _abortReason;

    /// <summary>A frame arrived (or a delivery ended): the server is alive.</summary>
    public void Touch()
    {
        Volatile.Write(ref _lastFrame, Stopwatch.GetTimestamp());
        _pingSent = false;
    }

    /// <summary>Drops the socket at once, no close handshake; the receive loop ends with 1006 and this reason.</summary>
    public void Abort(string reason)
    {
        _abortReason ??= reason;
        Socket.Abort();
    }
}
