using System.Net.WebSockets;

namespace FastWs.Client;

/// <summary>How the token reaches the server on each new connection (docs/protocol.md, "Tokens").</summary>
public enum TokenTransport
{
    /// <summary><c>Authorization: Bearer JWT</c> on the upgrade request: the usual way for services.</summary>
    Header,

    /// <summary>A first <c>{"type":"auth","token":"JWT"}</c> message after the upgrade: keeps it out of headers and URLs.</summary>
    Message,

    /// <summary><c>?token=JWT</c> in the URL (the seed servers' form; URLs may end up in proxy logs).</summary>
    Query,

    /// <summary>A <c>bearer.JWT</c> subprotocol next to <c>fastws.v1</c> (what browsers do).</summary>
    Subprotocol,
}

/// <summary>Why <see cref="FastWsClientOptions.RefreshToken"/> is asked for a token.</summary>
public enum TokenRefreshReason
{
    /// <summary>The server sent <c>token_expiring</c>: the new token is sent on the live connection.</summary>
    Expiring,

    /// <summary>Closed with 4002 (token expired): the client reconnects at once with the new token.</summary>
    Expired,

    /// <summary>Closed with 4001 (token refused): only a different token makes the client reconnect.</summary>
    Rejected,
}

/// <summary>Settings of a <see cref="FastWsClient"/>. Every one has a default; the defaults match the TypeScript client.</summary>
public sealed class FastWsClientOptions
{
    /// <summary>A JWT for the connections (none: anonymous). <see cref="FastWsClient.SetToken"/> replaces it.</summary>
    public string? Token { get; set; }

    /// <summary>Where the token goes on each new connection. A refresh on a live connection is always an <c>auth</c> message.</summary>
    public TokenTransport TokenTransport { get; set; } = TokenTransport.Header;

    /// <summary>
    /// Asked for a new token on <c>token_expiring</c>, after close 4002 and after close 4001. Return the token, or null
    /// when there is none. Without it, <c>token_expiring</c> is only reported (<see cref="FastWsClient.TokenExpiring"/>)
    /// and a 4001/4002 stops the client until <see cref="FastWsClient.SetToken"/>.
    /// </summary>
    public Func<TokenRefreshReason, CancellationToken, ValueTask<string?>>? RefreshToken { get; set; }

    /// <summary>Reconnect delays after ordinary drops.</summary>
    public BackoffOptions Backoff { get; set; } = BackoffOptions.Default;

    /// <summary>Reconnect delays after close 1008 (connection or rate limit).</summary>
    public BackoffOptions PolicyBackoff { get; set; } = BackoffOptions.Policy;

    /// <summary>A connection that stayed up this long starts the backoff again from its first step.</summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The jitter's random source, returning [0, 1). Default <see cref="Random.Shared"/>.</summary>
    public Func<double>? Random { get; set; }

    /// <summary>Send <c>{"type":"ping"}</c> when no frame has arrived for this long.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Drop the connection (and reconnect) when nothing at all arrives this long after that ping.</summary>
    public TimeSpan PongTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Give up an attempt whose upgrade and <c>connected</c> message have not come after this long.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Fail a subscribe, unsubscribe or auth that gets no answer on a live connection after this long.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Messages each subscription buffers for its reader (a bounded <see cref="System.Threading.Channels.Channel{T}"/>).
    /// When a buffer is full the client waits: it stops reading the socket until the reader takes a message (see
    /// README, "Backpressure"). Default 1,024.
    /// </summary>
    public int BufferCapacity { get; set; } = 1024;

    /// <summary>Subprotocols offered besides <c>fastws.v1</c> (always offered).</summary>
    public IList<string> SubProtocols { get; } = new List<string>();

    /// <summary>permessage-deflate for the connection (null: none), passed to <see cref="ClientWebSocketOptions.DangerousDeflateOptions"/>.</summary>
    public WebSocketDeflateOptions? DeflateOptions { get; set; }

    /// <summary>Called on each new <see cref="ClientWebSocketOptions"/> before it connects: headers, proxy, certificates.</summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>
    /// The HTTP handler for the upgrade requests (<see cref="ClientWebSocket.ConnectAsync(Uri, System.Net.Http.HttpMessageInvoker?, CancellationToken)"/>).
    /// Null: the runtime's own per connection. Many clients in one process can share one (a <c>SocketsHttpHandler</c>),
    /// which saves a handler per connection; ClientWebSocket then refuses its own proxy, credential and certificate
    /// settings (set them on the handler).
    /// </summary>
    public System.Net.Http.HttpMessageInvoker? HttpInvoker { get; set; }

    /// <summary>Largest message accepted from the server; a larger one drops the connection (and it reconnects). Default 16 MiB.</summary>
    public int MaxMessageSize { get; set; } = 16 * 1024 * 1024;
}
