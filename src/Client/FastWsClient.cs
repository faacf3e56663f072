using System.Net.WebSockets;
using System.Text.Json;

namespace FastWs.Client;

/// <summary>
/// A FastWs connection that keeps itself up (docs/protocol.md): it reconnects with capped exponential backoff and full
/// jitter, subscribes again with <c>since</c> after every reconnect, and hands each subscription a gapless stream, or
/// an explicit reset when the server could not recover what was missed. The .NET twin of clients/typescript.
/// </summary>
/// <remarks>
/// One background loop per client runs the connections: connect, read frames until the socket ends, decide by the
/// close code what comes next (reconnect after a delay, wait for a token, or stop). Channel state lives under
/// <see cref="Gate"/>; sends go one at a time (ClientWebSocket allows one send in flight).
/// </remarks>
public sealed partial class FastWsClient : IAsyncDisposable
{
    private const string SubProtocol = "fastws.v1";

    private readonly Uri _uri;
    private readonly FastWsClientOptions _options;
    private readonly Func<double> _random;
    private readonly Dictionary<string, FastWsSubscription> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<long, PendingRequest> _pending = [];
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstOpen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task? _run;
    private ClientConnection? _connection;
    private string? _token;
    private TaskCompletionSource? _tokenWait;
    private int _attempt;
    private long _nextId;
    private bool _connectedOnce;
    private bool _stopped;
    private bool _disposed;
    private bool _refreshing;
    private bool _retryScheduled;
    private volatile FastWsClientState _state;

    /// <param name="uri">The server's WebSocket URL, e.g. <c>ws://127.0.0.1:8080/ws</c>.</param>
    public FastWsClient(Uri uri, FastWsClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        _uri = uri;
        _options = options ?? new FastWsClientOptions();
        _token = _options.Token;
        _random = _options.Random ?? Random.Shared.NextDouble;
    }

    /// <summary>A connection came up (its <c>connected</c> message arrived).</summary>
    public event EventHandler<FastWsOpenedEventArgs>? Opened;

    /// <summary>A connection ended or an attempt failed; says whether and when the client tries again.</summary>
    public event EventHandler<FastWsClosedEventArgs>? Closed;

    /// <summary>A channel's stream starts over (<c>notRecovered</c>); also an item of the subscription's stream.</summary>
    public event EventHandler<FastWsResetEventArgs>? Reset;

    /// <summary>A gap notice (or a hole) on a channel; the client recovers it with <c>since</c> by itself.</summary>
    public event EventHandler<FastWsGapEventArgs>? Gap;

    /// <summary>Errors without a caller waiting for them (refusals after a reconnect, auth failures, handler exceptions).</summary>
    public event EventHandler<FastWsErrorEventArgs>? Error;

    /// <summary><c>token_expiring</c>, when there is no <see cref="FastWsClientOptions.RefreshToken"/> to answer it.</summary>
    public event EventHandler<FastWsTokenExpiringEventArgs>? TokenExpiring;

    /// <summary>A message sent to this connection by id, or any frame the client does not handle itself.</summary>
    public event EventHandler<FastWsDirectMessageEventArgs>? MessageReceived;

    /// <summary><see cref="State"/> changed.</summary>
    public event EventHandler<FastWsClientState>? StateChanged;

    public FastWsClientState State => _state;

    public bool IsConnected => _state == FastWsClientState.Open;

    /// <summary>The server's id of the current connection (null while disconnected).</summary>
    public string? ConnectionId { get; private set; }

    internal object Gate { get; } = new();

    /// <summary>
    /// Starts the client and completes when the first connection is up. Attempts that fail are retried with the backoff
    /// until <paramref name="cancellationToken"/> gives up (the client keeps trying in the background); throws
    /// <see cref="FastWsException"/> when the client stops first (a refused token without a new one, a key-group limit).
    /// </summary>
    public Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        return _firstOpen.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/> and completes on the server's ack (starting the client if needed). Throws
    /// <see cref="FastWsException"/> when the server refuses it (<c>forbidden</c>, <c>invalid_channel</c>,
    /// <c>limit_exceeded</c>, ...). One subscription per channel per client.
    /// </summary>
    public async Task<FastWsSubscription> SubscribeAsync(string channel, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        var subscription = new FastWsSubscription(this, channel, _options.BufferCapacity);
        lock (Gate)
        {
            if (_stopped)
            {
                throw new FastWsException("closed", "the client is closed", channel);
            }

            if (!_channels.TryAdd(channel, subscription))
            {
                throw new InvalidOperationException($"already subscribed to '{channel}' on this client");
            }
        }

        EnsureStarted();
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await subscription.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _ = LeaveQuietlyAsync(subscription);
            throw;
        }

        return subscription;
    }

    /// <summary>
    /// A new token: sent at once as <c>auth</c> on a live connection, used by every later connection, and the end of a
    /// wait after 4001/4002.
    /// </summary>
    public void SetToken(string token)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        ClientConnection? live;
        TaskCompletionSource? wait;
        lock (Gate)
        {
            _token = token;
            live = _connection is { IsConnected: true } c ? c : null;
            wait = _tokenWait;
            _tokenWait = null;
        }

        wait?.TrySetResult();
        if (live is not null)
        {
            _ = SendAuthAsync(live, token, CancellationToken.None);
        }
    }

    /// <summary>Closes with 1000 and stops for good; streams end, pending calls fail with <c>closed</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        ClientConnection? connection;
        List<FastWsSubscription> subscriptions;
        List<PendingRequest> pending;
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopped = true;
            connection = _connection;
            subscriptions = [.. _channels.Values];
            _channels.Clear();
            pending = [.. _pending.Values];
            _pending.Clear();
        }

        var closed = new FastWsException("closed", "the client is closed");
        _firstOpen.TrySetException(closed);
        _ = _firstOpen.Task.Exception;
        foreach (PendingRequest request in pending)
        {
            request.Completion?.TrySetException(closed);
        }

        if (connection is not null)
        {
            // A close frame first, so the server sees a clean close (it echoes it and the receive loop ends with it).
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _sendLock.WaitAsync(timeout.Token).ConfigureAwait(false);
                try
                {
                    await connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "client closed", timeout.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }

                if (_run is not null)
                {
                    await _run.WaitAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or TimeoutException or ObjectDisposedException or InvalidOperationException)
            {
                // Not closing cleanly: the cancellation below drops it.
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            try
            {
                await _run.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The loop is stuck in a callback of the application's; it ends by itself.
            }
        }

        foreach (FastWsSubscription subscription in subscriptions)
        {
            subscription.End(null, closed);
        }

        SetState(FastWsClientState.Closed);
        Raise(Closed, new FastWsClosedEventArgs(1000, "client closed", false, TimeSpan.Zero));
    }

    // ---- helpers ----

    private static long? IdOf(JsonElement message) =>
        message.TryGetProperty("id"u8, out JsonElement id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out long value) ? value : null;

    private static HashSet<string> Names(JsonElement message, ReadOnlySpan<byte> property)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (message.TryGetProperty(property, out JsonElement list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in list.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    names.Add(item.GetString()!);
                }
            }
        }

        return names;
    }

    private static FastWsPosition? ReadPosition(JsonElement positions, string channel) =>
        positions.ValueKind == JsonValueKind.Object
        && positions.TryGetProperty(channel, out JsonElement position)
        && position.ValueKind == JsonValueKind.Object
        && position.TryGetProperty("epoch"u8, out JsonElement epoch) && epoch.ValueKind == JsonValueKind.String
        && position.TryGetProperty("seq"u8, out JsonElement seq) && seq.TryGetInt64(out long n)
            ? new FastWsPosition(epoch.GetString()!, n)
            : null;

    private void SetState(FastWsClientState state)
    {
        if (_state == state)
        {
            return;
        }

        _state = state;
        Raise(StateChanged, state);
    }

    private void RaiseError(FastWsException error) => Raise(Error, new FastWsErrorEventArgs(error));

    /// <summary>Runs the application's handlers; one that throws is reported as an Error event and never ends the client.</summary>
    private void Raise<T>(EventHandler<T>? handlers, T args)
    {
        if (handlers is null)
        {
            return;
        }

        foreach (EventHandler<T> handler in handlers.GetInvocationList().Cast<EventHandler<T>>())
        {
            try
            {
                handler(this, args);
            }
#pragma warning disable CA1031 // the application's handler may throw anything; the client must go on
            catch (Exception ex) when (args is not FastWsErrorEventArgs)
#pragma warning restore CA1031
            {
                RaiseError(new FastWsException("handler", $"an event handler threw: {ex.Message}"));
            }
#pragma warning disable CA1031
            catch (Exception)
#pragma warning restore CA1031
            {
                // An Error handler that throws: nothing left to report it to.
            }
        }
    }
}
