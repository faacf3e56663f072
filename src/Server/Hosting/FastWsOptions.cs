using System.Net;
using FastWs.Server.Auth;

namespace FastWs.Server.Hosting;

/// <summary>
/// Server settings, bound from the "FastWs" configuration section (appsettings.json, environment variables
/// such as FastWs__WebSocket__Port, or command-line arguments such as --FastWs:WebSocket:Port=9000).
/// </summary>
public sealed class FastWsOptions
{
    public const string SectionName = "FastWs";

    public EndpointOptions WebSocket { get; set; } = new() { Address = "127.0.0.1", Port = 8080 };

    /// <summary>The HTTP endpoint for the publish API, stats and health.</summary>
    public EndpointOptions Http { get; set; } = new() { Address = "127.0.0.1", Port = 8081 };

    /// <summary>Request path that accepts WebSocket upgrades; any other path gets 404.</summary>
    public string Path { get; set; } = "/ws";

    /// <summary>Largest client message, summed over fragments; larger ones are closed with 1009.</summary>
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary>Largest upgrade request head (request line + headers); larger ones get 431.</summary>
    public int MaxHandshakeHeaderBytes { get; set; } = 8 * 1024;

    public SlowConsumerOptions SlowConsumer { get; set; } = new();

    public HeartbeatOptions Heartbeat { get; set; } = new();

    public TransportOptions Transport { get; set; } = new();

    public MemoryOptions Memory { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    /// <summary>permessage-deflate (RFC 7692): "FastWs:Compression".</summary>
    public CompressionOptions Compression { get; set; } = new();

    /// <summary>The HTTP API's own settings ("FastWs:Api").</summary>
    public ApiOptions Api { get; set; } = new();

    /// <summary>Number of fan-out shards (queues delivered by one thread at a time); channels are spread over them by name. 0 means one per processor.</summary>
    public int FanOutShards { get; set; }

    /// <summary>Messages each fan-out shard may hold before publishers are made to wait.</summary>
    public int FanOutQueueCapacity { get; set; } = 65536;

    public const int DefaultFanOutInlineDeliveryBudget = 2048;

    /// <summary>
    /// Subscriber writes a publishing thread (a publisher's read loop, an HTTP publish, an embedding host) does
    /// itself before the rest of the fan-out goes to a thread-pool thread; a message for a channel with more
    /// subscribers than this always goes there. 0 hands every delivery to the thread pool.
    /// </summary>
    public int FanOutInlineDeliveryBudget { get; set; } = DefaultFanOutInlineDeliveryBudget;

    /// <summary>Time a client has to send its complete upgrade request. Zero switches the timeout off.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time given to clients to answer the server's close frame before the connection is dropped.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Serve one loopback WebSocket connection as soon as the server listens, before <c>/readyz</c> reports ready,
    /// so that the first real client does not wait for the runtime's first-call compilation and the crypto
    /// library's load (about 60 ms on the test machine; see StartupWarmUp). It shows in the stats as one
    /// connection opened and closed at startup.
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Run the built-in demo feed of simulated prices, trades and funding rates.</summary>
    public bool Demo { get; set; }

    /// <summary>
    /// Channel namespaces by name. Configuration merges into the defaults, so a deployment adds or overrides
    /// namespaces without restating all of them.
    /// </summary>
    public Dictionary<string, NamespaceOptions> Namespaces { get; set; } = DefaultNamespaces();

    /// <summary>
    /// The namespaces of the systems FastWs replaces, plus "bench" for load tests, with the intents backend's rules
    /// and the market-data server's message shapes (inline typed events, price conflation, snapshots, history):
    /// market data, alerts, prices, trades and funding are public; <c>intent</c> needs an authenticated user;
    /// <c>user</c> and <c>solver</c> channels only their owner (keys are 0x addresses). <c>intent</c> draws on its own
    /// per-connection quota; <c>user</c> and <c>solver</c> share one (see <see cref="LimitOptions.SubscriptionQuotas"/>).
    /// </summary>
    public static Dictionary<string, NamespaceOptions> DefaultNamespaces() => new(StringComparer.Ordinal)
    {
        ["market_data"] = new() { Format = MessageFormat.Inline },
        ["system_alerts"] = new() { Format = MessageFormat.Inline, History = RecentHistory() },
        ["price"] = new() { Format = MessageFormat.Inline, ConflationInterval = TimeSpan.FromMilliseconds(500), Snapshot = true },
        ["trades"] = new() { Format = MessageFormat.Inline, History = RecentHistory() },
        ["funding"] = new() { Format = MessageFormat.Inline, Snapshot = true },
        ["intent"] = new() { Subscribe = AccessPolicy.Authenticated, Quota = "intent", Format = MessageFormat.Inline, History = RecentHistory() },
        ["user"] = new() { Subscribe = AccessPolicy.Owner, KeyPattern = AddressPattern, Quota = "user_solver", Format = MessageFormat.Inline, History = RecentHistory() },
        ["solver"] = new() { Subscribe = AccessPolicy.Owner, KeyPattern = AddressPattern, Quota = "user_solver", Format = MessageFormat.Inline, History = RecentHistory() },
        // Load tests: today's envelope, nothing kept, nothing left behind when the last subscriber goes.
        ["bench"] = new() { Retention = TimeSpan.Zero },
    };

    /// <summary>The default history of event streams a front end must not miss: 1,000 messages for 5 minutes.</summary>
    private static HistoryOptions RecentHistory() => new() { Size = 1000, MaxAge = TimeSpan.FromMinutes(5) };

    /// <summary>A 0x-prefixed 20-byte hex address: the user ids of the intents backend.</summary>
    public const string AddressPattern = "0x[0-9a-fA-F]{40}";

    /// <summary>Tokens, their keys and what the server does when they expire ("FastWs:Auth").</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>
    /// Browser origins allowed to connect and publish (exact <c>https://app.example.com</c>, or <c>*.example.com</c>
    /// wildcards). Empty: any origin may connect, but none counts as a local process for <c>Loopback</c> rules.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Refuse upgrades and HTTP API calls without an Origin header (only browsers expected). Off by default.</summary>
    public bool RequireOrigin { get; set; }

    /// <summary>Exporting the <c>FastWs</c> meter to an OpenTelemetry collector ("FastWs:Telemetry"; off by default).</summary>
    public TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Several nodes serving the same channels through Redis ("FastWs:Broker"; off by default: one process).</summary>
    public Broker.BrokerOptions Broker { get; set; } = new();
}

/// <summary>How the OTLP exporter is spoken to.</summary>
public enum OtlpTransport
{
    /// <summary>OTLP over gRPC (a collector's port 4317).</summary>
    Grpc,

    /// <summary>OTLP over HTTP with protobuf bodies (a collector's port 4318; the endpoint is the base address, <c>/v1/metrics</c> is added).</summary>
    HttpProtobuf,
}

/// <summary>
/// The OTLP exporter: with <see cref="OtlpEndpoint"/> set, the <c>FastWs</c> meter (counters, gauges and latency
/// histograms) is pushed to an OpenTelemetry collector every <see cref="ExportInterval"/>, beside <c>/metrics</c>.
/// An unreachable collector costs a failed export per interval on a background thread and a logged warning from the
/// exporter; the server goes on.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>The collector, e.g. <c>http://127.0.0.1:4317</c>; empty (the default) switches the exporter off.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><see cref="OtlpTransport.Grpc"/> (default) or <see cref="OtlpTransport.HttpProtobuf"/>.</summary>
    public OtlpTransport OtlpProtocol { get; set; } = OtlpTransport.Grpc;

    /// <summary>How often the meter is exported (default 15 s; at least 1 s).</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long one export may take before it is given up (default 10 s; positive).</summary>
    public TimeSpan ExportTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The <c>service.name</c> resource attribute the collector files the metrics under.</summary>
    public string ServiceName { get; set; } = "FastWs.Server";

    /// <summary>True when an OTLP endpoint is configured.</summary>
    public bool OtlpEnabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);
}

public sealed class EndpointOptions
{
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>0 picks a free port (tests use this and read the bound port back).</summary>
    public int Port { get; set; }

    /// <summary>TLS for this endpoint (wss:// or https://); off unless a certificate file is set.</summary>
    public TlsOptions Tls { get; set; } = new();

    public IPEndPoint ToEndPoint() => new(IPAddress.Parse(Address), Port);
}

public sealed class SlowConsumerOptions
{
    /// <summary>Unsent output above which data messages to a connection are skipped until it drains.</summary>
    public int MaxBufferedBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// SO_SNDBUF for accepted sockets (Linux doubles it for bookkeeping). Without a cap the kernel autotunes it up to
    /// megabytes, which a client that stops reading fills before the unsent-output limit above even sees a backlog.
    /// 0 leaves the operating system default.
    /// </summary>
    public int SocketSendBufferBytes { get; set; } = 256 * 1024;

    /// <summary>How long a connection may stay above the limit before it is closed with 1013.</summary>
    public TimeSpan MaxCongestedTime { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Which transport carries the WebSocket endpoint's sockets.</summary>
public enum TransportEngine
{
    /// <summary>FastWs's own epoll loops (Linux x86-64; elsewhere the server falls back to <see cref="Sockets"/>).</summary>
    Epoll,

    /// <summary>Kestrel's socket transport.</summary>
    Sockets,
}

/// <summary>Transport choice and tuning for the WebSocket endpoint.</summary>
public sealed class TransportOptions
{
    /// <summary>
    /// The WebSocket endpoint's transport. Epoll (the default) keeps an idle connection in a few small objects and
    /// sends and receives with direct system calls; Sockets is Kestrel's own transport, with its pipes. Epoll needs
    /// DirectSends (it has no transport pipe for frames) and Linux on x86-64; otherwise Sockets is used.
    /// </summary>
    public TransportEngine Engine { get; set; } = TransportEngine.Epoll;

    /// <summary>
    /// Epoll threads (each with its own epoll instance; connections are spread over them round robin). Reads, and
    /// the fan-out a publisher's read starts, run on these threads. 0 = half the cores the process may use, at least one.
    /// </summary>
    public int IoThreads { get; set; }

    /// <summary>The epoll threads to start: <see cref="IoThreads"/>, or its default.</summary>
    public int EffectiveIoThreads => IoThreads > 0 ? IoThreads : Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>
    /// Sockets engine only: run socket I/O completions inline on the socket engine's thread instead of hopping to Kestrel's I/O queue:
    /// a publisher's read loop (and the fan-out it does) then runs where the data arrived. Saves a thread hop per
    /// read; safe because no FastWs code blocks (sends are non-blocking, see DirectSends).
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>
    /// After the upgrade, send frames straight to the socket with non-blocking sends instead of through the
    /// transport pipe (see SocketOutput): less CPU and one wake-up fewer per delivered message. Unsent output
    /// is then what the kernel has not taken yet. Turn off to go back to the pipe (for comparison).
    /// </summary>
    public bool DirectSends { get; set; } = true;

    /// <summary>
    /// Epoll engine only: the kernel hands a connection to the server only once its first bytes (the upgrade
    /// request) have arrived, or, for a client that sends nothing, about this long after it connected (Linux
    /// rounds up to its SYN-ACK retransmission times: 1, 3, 7, 15... s). The accept and the first read then happen
    /// in one wake-up, and a client that connects and stays silent costs the server nothing until then (one that
    /// closes is handed over by its FIN, as without this). The handshake timeout starts when the connection is
    /// handed over. Zero switches it off (TCP_DEFER_ACCEPT, whole seconds).
    /// </summary>
    public TimeSpan DeferAccept { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary><see cref="DeferAccept"/> as the whole seconds TCP_DEFER_ACCEPT takes: rounded up, 0 = off, at most an hour.</summary>
    public int EffectiveDeferAcceptSeconds => (int)Math.Clamp(Math.Ceiling(DeferAccept.TotalSeconds), 0, 3600);
}

/// <summary>Settings of the HTTP API.</summary>
public sealed class ApiOptions
{
    /// <summary>
    /// The role a bearer token needs for <c>/api/connections/{id}/send</c> and <c>/close</c>; trusted loopback
    /// callers need none.
    /// </summary>
    public string ConnectionsRole { get; set; } = "admin";
}

/// <summary>When the server gives memory back to the system.</summary>
public sealed class MemoryOptions
{
    /// <summary>
    /// After this long with no connections opening or closing and no messages in or out, the server runs one
    /// compacting garbage collection that returns unused heap memory to the system (see IdleMemoryTrim). Zero
    /// switches it off. The collection pauses every thread (57-72 ms at 10,000 idle connections on the test
    /// machine), which is why it waits for silence: the pause only delays a message that arrives during it.
    /// </summary>
    public TimeSpan TrimAfterIdle { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Bytes the process must have allocated since the last trim before another one is worth its pause. The
    /// fan-out path allocates nothing, so steady traffic never arms it; connection bursts and HTTP calls do.
    /// </summary>
    public long TrimMinAllocatedBytes { get; set; } = 16L * 1024 * 1024;
}

/// <summary>
/// permessage-deflate (RFC 7692), negotiated per connection at the upgrade. Implemented so far: the negotiation and
/// inflating what clients send compressed; the server's own frames still go out uncompressed (RFC 7692 lets a
/// sender compress any message or none), until the fan-out encoder compresses each message once.
/// </summary>
/// <remarks>
/// Per-namespace switches belong with outbound compression: the namespace is not known at the upgrade (channels
/// come later), so it decides whether a channel's messages are sent compressed to connections that negotiated
/// the extension, and the threshold below which they are not (issue 20: default 128 bytes), not whether the
/// extension is negotiated.
/// </remarks>
public sealed class CompressionOptions
{
    /// <summary>Accept a client's permessage-deflate offer. Off: the upgrade answers no extension, and RSV1 is a protocol error (1002).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Let clients keep their compression context between messages (RFC 7692 "context takeover"). Off by default:
    /// the server answers <c>client_no_context_takeover</c>, so it keeps no inflater (about 50 KB) per connection
    /// between messages; client messages are few and small, so the context would save little. Node's <c>ws</c>
    /// configured with <c>clientNoContextTakeover: false</c> refuses that answer (its handshake fails): such
    /// deployments switch this on.
    /// </summary>
    public bool ClientContextTakeover { get; set; }
}

public sealed class HeartbeatOptions
{
    /// <summary>How often every connection gets a ping frame. Zero switches heartbeats off.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long after a ping a connection may stay silent (no pong, no frame at all) before it is dropped.</summary>
    public TimeSpan PongTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Protection limits. Defaults come from the systems FastWs replaces; 0 switches a limit off. Load tests from one
/// loopback IP raise or switch off the per-IP, per-key-group and rate limits (see tools/FastWs.LoadGen/README.md).
/// </summary>
public sealed class LimitOptions
{
    /// <summary>Connections in total; more are upgraded and closed at once with 1008.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>Connections per client IP (taken from X-Forwarded-For only behind a trusted proxy).</summary>
    public int MaxConnectionsPerIp { get; set; } = 5;

    /// <summary>Peers whose X-Forwarded-For header is believed.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Connections subscribed to any channel of one key group (price:SOL, trades:SOL, funding:SOL count toward SOL).</summary>
    public int MaxSubscribersPerKeyGroup { get; set; } = 100;

    /// <summary>
    /// What a connection gets for a subscribe over <see cref="MaxSubscribersPerKeyGroup"/>: <c>Error</c> (a
    /// <c>limit_exceeded</c> error for that channel, the connection stays) or <c>Close</c> (the seed server's way: the
    /// connection is closed with 1008 and the same message as the reason).
    /// </summary>
    public KeyGroupLimitAction KeyGroupLimitAction { get; set; } = KeyGroupLimitAction.Error;

    /// <summary>Channels one connection may be subscribed to.</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 50;

    /// <summary>Per-connection caps shared by the namespaces that name them in <see cref="NamespaceOptions.Quota"/>.</summary>
    public Dictionary<string, int> SubscriptionQuotas { get; set; } = new(StringComparer.Ordinal)
    {
        ["intent"] = 20,
        ["user_solver"] = 10,
    };

    /// <summary>Client messages per <see cref="MessageWindow"/> per connection (sliding window).</summary>
    public int MaxMessagesPerWindow { get; set; } = 60;

    public TimeSpan MessageWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>rate_limited errors a connection may collect before it is closed with 1008.</summary>
    public int MaxRateLimitErrors { get; set; } = 10;

    /// <summary>
    /// Publish messages per second from a connection allowed to publish: counted apart from the limit above so a
    /// feed handler can publish through one connection.
    /// </summary>
    public int MaxPublishesPerSecond { get; set; } = 100_000;
}

/// <summary>Per-namespace settings.</summary>
public sealed class NamespaceOptions
{
    /// <summary>Who may subscribe: Anyone, Authenticated, Owner, Role:&lt;name&gt;, Loopback or Nobody.</summary>
    public AccessPolicy Subscribe { get; set; } = AccessPolicy.Anyone;

    /// <summary>Who may publish over WebSocket or HTTP: Loopback, Role:&lt;name&gt;, Nobody (or any other rule).</summary>
    public AccessPolicy Publish { get; set; } = AccessPolicy.Loopback;

    /// <summary>
    /// A regular expression the whole channel key must match (<c>0x[0-9a-fA-F]{40}</c> for wallet addresses), checked
    /// before anything is allocated for the channel; unset: any key the channel-name rules allow.
    /// </summary>
    public string? KeyPattern { get; set; }

    /// <summary>The compiled <see cref="KeyPattern"/> (anchored, non-backtracking); set once by the namespace catalog.</summary>
    internal System.Text.RegularExpressions.Regex? KeyRegex { get; set; }

    /// <summary>Name of a per-connection subscription quota in <see cref="LimitOptions.SubscriptionQuotas"/>, if any.</summary>
    public string? Quota { get; set; }

    /// <summary>
    /// How messages go out: <c>Envelope</c> (<c>{"type":"message","channel","seq","data"}</c>) or <c>Inline</c> (the
    /// published object itself with <c>channel</c> and <c>seq</c> added as its last members; publishes must then be
    /// JSON objects).
    /// </summary>
    public MessageFormat Format { get; set; } = MessageFormat.Envelope;

    /// <summary>
    /// Per channel, at most one message per interval goes out: the first after a quiet interval at once, later ones
    /// replace each other and the latest goes out when the interval ends. <c>00:00:00</c> (the default) is off.
    /// </summary>
    public TimeSpan ConflationInterval { get; set; }

    /// <summary>
    /// Write coalescing: a subscriber's messages of this namespace are held this long after the first of them and then
    /// sent in one write with whatever else came for it meanwhile (fewer <c>send</c> calls and TCP segments for up to
    /// this much added latency). Anything sent to the connection sooner (a namespace without delay, a reply, a ping, a
    /// close) takes held messages with it. <c>00:00:00</c> (the default) is off: every write as soon as it can go.
    /// At most <see cref="MaxWriteDelay"/>.
    /// </summary>
    public TimeSpan WriteDelay { get; set; }

    /// <summary>The longest <see cref="WriteDelay"/> accepted: coalescing is for a few milliseconds, not for pacing.</summary>
    public static readonly TimeSpan MaxWriteDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>Send a new subscriber the channel's latest message (marked <c>"snapshot":true</c>) right after <c>subscribed</c>.</summary>
    public bool Snapshot { get; set; }

    /// <summary>What each channel remembers for recovery with <c>since</c>.</summary>
    public HistoryOptions History { get; set; } = new();

    /// <summary>
    /// How long a channel without subscribers keeps its state (sequence, epoch, history, snapshot), counting what is
    /// published meanwhile. Zero: the state goes with the last subscriber (and publishes nobody hears are dropped).
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Delivers as <c>bench</c> does: the envelope, no conflation, no snapshot, no history, and a channel goes with its
    /// last subscriber (for namespaces that only fan out; benchmarks and the tests of fan-out use it too).
    /// </summary>
    public void DeliverPlainly()
    {
        Format = MessageFormat.Envelope;
        ConflationInterval = TimeSpan.Zero;
        Snapshot = false;
        History.Size = 0;
        Retention = TimeSpan.Zero;
    }

    /// <summary>
    /// Send this namespace's messages compressed (permessage-deflate) to the connections that negotiated it: each
    /// message is compressed once for all of them. Needs <c>FastWs:Compression:Enabled</c> (the negotiation).
    /// </summary>
    public bool Compression { get; set; } = true;

    /// <summary>
    /// Messages whose payload (the frame's JSON) is shorter than this many bytes go uncompressed to everyone: below
    /// about 100 bytes DEFLATE saves little or nothing and the CPU is spent for no gain.
    /// </summary>
    public int CompressionThreshold { get; set; } = DefaultCompressionThreshold;

    public const int DefaultCompressionThreshold = 128;

    /// <summary>Whether a channel of this namespace has anything worth keeping between subscribers.</summary>
    internal bool KeepsMessages => Snapshot || History.Size > 0;
}

/// <summary>How a namespace's messages are written on the wire.</summary>
public enum MessageFormat
{
    /// <summary><c>{"type":"message","channel":"NAME","seq":N,"data":DATA}</c>.</summary>
    Envelope,

    /// <summary>The published object, with <c>"channel":"NAME","seq":N</c> appended as its last members.</summary>
    Inline,
}

/// <summary>A channel's history ring: bounded by count, age and bytes (whichever is reached first).</summary>
public sealed class HistoryOptions
{
    /// <summary>Messages kept per channel; 0 keeps none (recovery then only works when nothing was missed).</summary>
    public int Size { get; set; }

    /// <summary>Messages older than this are dropped from the history.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Bytes of published data kept per channel.</summary>
    public long MaxBytes { get; set; } = 1024 * 1024;
}
