using FastWs.LoadGen.Auth;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Cli;

/// <summary>How subscribers subscribe: a subscribe message after the handshake, or <c>?subscribe=</c> in the URL.</summary>
internal enum SubscribeVia
{
    Message,
    Url,
}

/// <summary>What the connections speak: FastWs's JSON protocol, or ASP.NET Core SignalR's JSON hub protocol (the issue-18 anchor).</summary>
internal enum WireProtocol
{
    FastWs,
    SignalR,
}

internal enum PublishVia
{
    Ws,
    Http,
}

/// <summary>What a churn cycle waits for before closing.</summary>
internal enum ChurnWait
{
    Ack,
    Message,
}

/// <summary>All options of all scenarios, after parsing and validation. Each scenario reads the ones it has.</summary>
internal sealed class RunSettings
{
    public required string Scenario { get; init; }

    public required string Url { get; init; }

    /// <summary>The first --url's endpoint (where a single-node run connects everything).</summary>
    public required WsEndpoint Endpoint { get; init; }

    /// <summary>Every --url: connection i (subscriber i, connection i, churn cycle i) goes to endpoint i mod N.</summary>
    public IReadOnlyList<string> Urls { get; init; } = [];

    public IReadOnlyList<WsEndpoint> Endpoints { get; init; } = [];

    /// <summary>--publish-url (default: the first --url): where publisher connections go.</summary>
    public string PublishUrl { get; init; } = "";

    public WsEndpoint? PublishEndpoint { get; init; }

    public WireProtocol Protocol { get; init; }

    /// <summary>The endpoint of connection <paramref name="id"/>: publishers (negative ids) to --publish-url, the rest round robin over --url.</summary>
    public WsEndpoint EndpointFor(int id) =>
        id < 0 ? PublishEndpoint ?? Endpoint
        : Endpoints.Count > 1 ? Endpoints[id % Endpoints.Count]
        : Endpoint;

    /// <summary>Which --url (0-based) connection <paramref name="id"/> (not negative) goes to.</summary>
    public int UrlIndexFor(int id) => Endpoints.Count > 1 ? id % Endpoints.Count : 0;

    /// <summary>For wss:// URLs: the TLS versions and how the certificate is checked, for the report (null for ws://).</summary>
    public string? TlsDescription { get; init; }

    public double Duration { get; init; }

    public double Warmup { get; init; }

    public double Grace { get; init; } = 2;

    /// <summary>--server-pid, repeatable: processes whose CPU and RSS are summed (and reported one by one when several).</summary>
    public IReadOnlyList<int> ServerPids { get; init; } = [];

    /// <summary>For the report's settings: the PIDs, or "-".</summary>
    public string ServerPidText => ServerPids.Count == 0 ? "-" : string.Join(", ", ServerPids);

    public string? ReportDir { get; init; }

    public IReadOnlyList<string> Thresholds { get; init; } = [];

    public string ChannelPrefix { get; init; } = "bench:";

    public int ConnectConcurrency { get; init; } = 64;

    public double ConnectTimeout { get; init; } = 10;

    public bool Progress { get; init; } = true;

    public SubscribeVia SubscribeVia { get; init; }

    public int ReceiveBuffer { get; init; } = 16 * 1024;

    /// <summary>Tokens for the connections (--token, --token-file, --mint-token) and where they go (--token-in).</summary>
    public TokenPlan Token { get; init; } = TokenPlan.NoTokens;

    // fanout / slow
    public int Subscribers { get; init; } = 100;

    public int Channels { get; init; } = 1;

    public double Rate { get; init; } = 1000;

    public int Payload { get; init; } = 100;

    /// <summary>Publish ~1 KB price objects (<see cref="Publishing.PricePayload"/>) instead of padded data of <see cref="Payload"/> bytes.</summary>
    public bool PricePayload { get; init; }

    /// <summary>Offer permessage-deflate on every connection (and inflate what the server compresses).</summary>
    public bool Deflate { get; init; }

    public int Publishers { get; init; } = 1;

    public PublishVia PublishVia { get; init; }

    public Uri? HttpUrl { get; init; }

    public double OnTimeMs { get; init; } = 100;

    public double SlowShare { get; init; } = 0.1;

    public int SlowSocketBuffer { get; init; } = 4096;

    // connect
    public int Connections { get; init; } = 1000;

    public double Hold { get; init; } = 5;

    // churn
    public int Concurrency { get; init; } = 10;

    public ChurnWait ChurnWait { get; init; }

    // reconnect
    public int ChannelsPerSubscriber { get; init; } = 2;

    /// <summary>Shortest and longest time (s) a reconnect subscriber holds a connection before dropping it.</summary>
    public double DropMin { get; init; } = 0.5;

    public double DropMax { get; init; } = 2;

    /// <summary>Seconds a dropped subscriber stays away before reconnecting.</summary>
    public double Offline { get; init; } = 0.1;

    // storm
    /// <summary>The clients' first backoff window W (s): a dropped client's first attempt comes at random × W.</summary>
    public double Window { get; init; } = 10;

    /// <summary>False: every client reconnects at once (the burst the jitter prevents), for comparison.</summary>
    public bool Jitter { get; init; } = true;

    // conflation
    public int Slabs { get; init; } = 1000;

    /// <summary>Probe slabs, each updated once every <see cref="ProbeEvery"/> seconds.</summary>
    public int Probes { get; init; } = 20;

    public double ProbeEvery { get; init; } = 1.5;

    /// <summary>The server's conflation interval as the user says it is configured (ms): for the report and the drain.</summary>
    public double ConflationMs { get; init; } = 500;

    /// <summary>The server's /ws/stats (conflation, history-memory); null: not read.</summary>
    public Uri? StatsUrl { get; init; }

    // history-memory
    public int Messages { get; init; } = 1000;

    public int Batch { get; init; } = 1000;

    /// <summary>Tokens churn mints when none are given: its cycles are open-ended, so cycle n uses token n mod this many.</summary>
    public const int ChurnTokenPool = 4096;

    /// <summary>
    /// How many connections get a token of their own: subscriber slots (connect: every connection; fanout/slow: the
    /// subscribers, reconnect: the subscribers, each keeping its token across reconnects; churn: a pool its cycles share
    /// round robin) and publisher connections (each has one after the subscribers').
    /// </summary>
    public (int Subscribers, int Publishers) TokenSlots() => Scenario switch
    {
        "connect" => (Connections, 0),
        "churn" => (Math.Max(ChurnTokenPool, Concurrency), ChurnWait == ChurnWait.Message ? 1 : 0),
        "reconnect" => (Subscribers, 1),
        "storm" => (0, 1),
        "conflation" => (Subscribers, Publishers + 1),
        "history-memory" => (0, 0),
        _ => (Subscribers, PublishVia == PublishVia.Ws ? Publishers : 0),
    };

    /// <summary>Names of the scenario's channels: prefix + 1..N.</summary>
    public IReadOnlyList<string> ChannelNames(int count) =>
        Enumerable.Range(1, count).Select(i => ChannelPrefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
