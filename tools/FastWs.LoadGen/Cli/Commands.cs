using System.CommandLine;
using FastWs.LoadGen.Auth;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Cli;

/// <summary>The command line: one sub-command per scenario, NBomber-style names and options.</summary>
internal static class Commands
{
    public const string DefaultUrl = "ws://127.0.0.1:8080/ws";

    public static RootCommand Build()
    {
        var root = new RootCommand(
            "FastWs.LoadGen: WebSocket load scenarios (fanout, connect, churn, slow, reconnect, storm, conflation, history-memory) against any RFC 6455 server speaking the FastWs JSON protocol. Loopback targets only.");
        root.Subcommands.Add(BuildFanout("fanout", "S subscribers over C channels, publishers at R msgs/s; reports delivered msgs/s, delivery ratio, end-to-end latency percentiles and errors.", slow: false));
        root.Subcommands.Add(BuildFanout("slow", "A fanout in which a share of the subscribers stop reading after warm-up; reports whether the healthy ones still get everything on time.", slow: true));
        root.Subcommands.Add(BuildConnect());
        root.Subcommands.Add(BuildChurn());
        root.Subcommands.Add(BuildReconnect());
        root.Subcommands.Add(BuildStorm());
        root.Subcommands.Add(BuildConflation());
        root.Subcommands.Add(BuildHistoryMemory());
        root.Subcommands.Add(BuildKeyGen());
        return root;
    }

    private static Command BuildFanout(string name, string description, bool slow)
    {
        var command = new Command(name, description);
        var common = new CommonOptions(command, duration: 10, warmup: 2, durationHelp: "Measured seconds (after the warm-up).");
        Option<int> subscribers = Add(command, new Option<int>("--subscribers", "-s") { Description = "Subscriber connections.", DefaultValueFactory = _ => 100 });
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Channels (PREFIX1..PREFIXn); subscriber i joins channel i mod C, publishes go round robin.", DefaultValueFactory = _ => 1 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "Publishes per second, in total over all channels and publishers.", DefaultValueFactory = _ => 1000 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "Bytes of each published data object {\"t\":..,\"p\":\"xx..\"} (minimum about 30).", DefaultValueFactory = _ => 100 });
        Option<string> payloadKind = Add(command, new Option<string>("--payload-kind") { Description = "padded: {\"t\":..,\"p\":\"xx..\"} of --payload bytes; price: a ~1 KB order-book price object (slab, mark/index price, 10 levels each side of price/size/side) whose numbers change from message to message (for compression).", DefaultValueFactory = _ => "padded" });
        payloadKind.AcceptOnlyFromAmong("padded", "price");
        Option<int> publishers = Add(command, new Option<int>("--publishers") { Description = "WebSocket publisher connections sharing the rate.", DefaultValueFactory = _ => 1 });
        Option<string> publishVia = Add(command, new Option<string>("--publish-via") { Description = "ws: publish messages on WebSocket connections; http: POST batches to --http-url.", DefaultValueFactory = _ => "ws" });
        publishVia.AcceptOnlyFromAmong("ws", "http");
        Option<string?> httpUrl = Add(command, new Option<string?>("--http-url") { Description = "Publish API for --publish-via http (default: http://HOST:8081/api/publish, HOST from --url)." });
        Option<double> onTime = Add(command, new Option<double>("--on-time-ms") { Description = "Deliveries slower than this count as 'late'.", DefaultValueFactory = _ => 100 });
        Option<double>? share = slow ? Add(command, new Option<double>("--slow-share") { Description = "Share of subscribers that stop reading when the measured window starts.", DefaultValueFactory = _ => 0.1 }) : null;
        Option<int>? slowBuffer = slow ? Add(command, new Option<int>("--slow-rcvbuf") { Description = "SO_RCVBUF of the slow subscribers' sockets, so they back up quickly (0 = kernel default).", DefaultValueFactory = _ => 4096 }) : null;

        command.SetAction(result => Program.RunAsync(common.Settings(result, name, s => s with
        {
            Subscribers = result.GetValue(subscribers),
            Channels = result.GetValue(channels),
            Rate = result.GetValue(rate),
            Payload = result.GetValue(payload),
            PricePayload = result.GetValue(payloadKind) == "price",
            Publishers = result.GetValue(publishers),
            PublishVia = result.GetValue(publishVia) == "http" ? PublishVia.Http : PublishVia.Ws,
            HttpUrlText = result.GetValue(httpUrl),
            OnTimeMs = result.GetValue(onTime),
            SlowShare = share is null ? 0 : result.GetValue(share),
            SlowSocketBuffer = slowBuffer is null ? 0 : result.GetValue(slowBuffer),
        })));
        return command;
    }

    private static Command BuildConnect()
    {
        var command = new Command("connect", "Ramp to N idle subscribed connections; reports handshakes/s, handshake latency and (with --server-pid) server memory per connection.");
        var common = new CommonOptions(command, duration: 60, warmup: 0, durationHelp: "Longest the ramp may take; the ramp stops there.");
        Option<int> connections = Add(command, new Option<int>("--connections", "-n") { Description = "Connections to open.", DefaultValueFactory = _ => 1000 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "Handshakes started per second (0 = as fast as --connect-concurrency allows).", DefaultValueFactory = _ => 0 });
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Each connection subscribes to one of C channels (0 = no subscribe, bare connections).", DefaultValueFactory = _ => 1 });
        Option<double> hold = Add(command, new Option<double>("--hold") { Description = "Seconds to hold the connections idle after the ramp before measuring memory.", DefaultValueFactory = _ => 5 });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "connect", s => s with
        {
            Connections = result.GetValue(connections),
            Rate = result.GetValue(rate),
            Channels = result.GetValue(channels),
            Hold = result.GetValue(hold),
            ReceiveBuffer = common.ReceiveBufferOr(result, 2048),
        })));
        return command;
    }

    private static Command BuildChurn()
    {
        var command = new Command("churn", "K workers loop connect → subscribe → ack (or first message) → close for D seconds; reports cycles/s, cycle time and errors.");
        var common = new CommonOptions(command, duration: 10, warmup: 1, durationHelp: "Measured seconds (after the warm-up).");
        Option<int> concurrency = Add(command, new Option<int>("--concurrency", "-k") { Description = "Concurrent workers, each one connection at a time.", DefaultValueFactory = _ => 10 });
        Option<string> wait = Add(command, new Option<string>("--wait") { Description = "What a cycle waits for before closing: ack (the subscribed reply) or message (the first data message).", DefaultValueFactory = _ => "ack" });
        wait.AcceptOnlyFromAmong("ack", "message");
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Channels the workers spread over.", DefaultValueFactory = _ => 10 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "With --wait message: publishes per second over the channels.", DefaultValueFactory = _ => 1000 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "With --wait message: bytes of each published data object.", DefaultValueFactory = _ => 100 });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "churn", s => s with
        {
            Concurrency = result.GetValue(concurrency),
            ChurnWait = result.GetValue(wait) == "message" ? ChurnWait.Message : ChurnWait.Ack,
            Channels = result.GetValue(channels),
            Rate = result.GetValue(rate),
            Payload = result.GetValue(payload),
            ReceiveBuffer = common.ReceiveBufferOr(result, 4096),
        })));
        return command;
    }

    private static Command BuildReconnect()
    {
        var command = new Command("reconnect", "S subscribers on channels with history drop their connections without a close frame at random, reconnect and resubscribe with since while a publisher runs; reports reconnects, messages recovered, recovery failures, gaps, duplicates and out-of-order messages (a gap, a duplicate, an out-of-order message or a stream left short at the end fails the run).");
        var common = new CommonOptions(command, duration: 10, warmup: 2, durationHelp: "Measured seconds (after the warm-up); drops happen from the start to the end.", channelPrefix: "trades:");
        Option<int> subscribers = Add(command, new Option<int>("--subscribers", "-s") { Description = "Subscribers, each one connection at a time.", DefaultValueFactory = _ => 20 });
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Channels (PREFIX1..PREFIXn); publishes go round robin over them.", DefaultValueFactory = _ => 4 });
        Option<int> perSubscriber = Add(command, new Option<int>("--channels-per-subscriber", "-k") { Description = "Channels each subscriber subscribes to: subscriber i takes channels i, i+1, ... (mod C).", DefaultValueFactory = _ => 2 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "Publishes per second, in total over all channels.", DefaultValueFactory = _ => 1000 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "Bytes of each published data object {\"t\":..,\"p\":\"xx..\"} (minimum about 30).", DefaultValueFactory = _ => 100 });
        Option<double> dropMin = Add(command, new Option<double>("--drop-min") { Description = "Shortest time a subscriber holds a connection before dropping it, in seconds (at least 0.05).", DefaultValueFactory = _ => 0.5 });
        Option<double> dropMax = Add(command, new Option<double>("--drop-max") { Description = "Longest time a subscriber holds a connection before dropping it, in seconds; each hold is random between the two.", DefaultValueFactory = _ => 2 });
        Option<double> offline = Add(command, new Option<double>("--offline") { Description = "Seconds a dropped subscriber stays away before reconnecting (what it must recover grows with it).", DefaultValueFactory = _ => 0.1 });
        Option<double> onTime = Add(command, new Option<double>("--on-time-ms") { Description = "Live messages slower than this count as 'late'.", DefaultValueFactory = _ => 100 });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "reconnect", s => s with
        {
            Subscribers = result.GetValue(subscribers),
            Channels = result.GetValue(channels),
            ChannelsPerSubscriber = result.GetValue(perSubscriber),
            Rate = result.GetValue(rate),
            Payload = result.GetValue(payload),
            DropMin = result.GetValue(dropMin),
            DropMax = result.GetValue(dropMax),
            Offline = result.GetValue(offline),
            OnTimeMs = result.GetValue(onTime),
        })));
        return command;
    }

    private static Command BuildStorm()
    {
        var command = new Command("storm", "N clients of the .NET client library (FastWs.Client) on channels with history, a publisher running, then every connection reset at once by a relay in front of the server (the server stays up); the clients come back by their backoff with full jitter over the window W. Reports handshakes per second after the drop against the bound 1.5 × N / W, the spread of the reconnects, and checks every client's stream for gaps, duplicates and resets (any fails the run).");
        var common = new CommonOptions(command, duration: 15, warmup: 2, durationHelp: "Seconds after the drop (publishing goes on; at least --window).", channelPrefix: "trades:");
        Option<int> clients = Add(command, new Option<int>("--clients", "-n") { Description = "Clients (FastWs.Client instances), each one connection.", DefaultValueFactory = _ => 2000 });
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Channels (PREFIX1..PREFIXn); publishes go round robin over them.", DefaultValueFactory = _ => 10 });
        Option<int> perClient = Add(command, new Option<int>("--channels-per-client", "-k") { Description = "Channels each client subscribes to: client i takes channels i, i+1, ... (mod C).", DefaultValueFactory = _ => 1 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "Publishes per second, in total over all channels.", DefaultValueFactory = _ => 100 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "Bytes of each published data object (minimum about 30).", DefaultValueFactory = _ => 100 });
        Option<double> window = Add(command, new Option<double>("--window") { Description = "The clients' first backoff window W in seconds: a dropped client's first attempt comes at random × W (at least 1).", DefaultValueFactory = _ => 10 });
        Option<string> jitter = Add(command, new Option<string>("--jitter") { Description = "on: full jitter (the client's default); off: every client reconnects at once, to see the burst the jitter prevents.", DefaultValueFactory = _ => "on" });
        jitter.AcceptOnlyFromAmong("on", "off");
        Option<string?> statsUrl = Add(command, new Option<string?>("--stats-url") { Description = "The server's stats for its own connection count (default: http://HOST:PORT/ws/stats from the ws:// --url)." });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "storm", s => s with
        {
            Subscribers = result.GetValue(clients),
            Channels = result.GetValue(channels),
            ChannelsPerSubscriber = result.GetValue(perClient),
            Rate = result.GetValue(rate),
            Payload = result.GetValue(payload),
            Window = result.GetValue(window),
            Jitter = result.GetValue(jitter) != "off",
            StatsUrlText = result.GetValue(statsUrl),
        })));
        return command;
    }

    private static Command BuildConflation()
    {
        var command = new Command("conflation", "Price updates at R msgs/s over S slabs to N subscribers (K slabs each) on a namespace with conflation (FastWs price: 500 ms), plus probe slabs updated once every few seconds; reports delivered vs published, server CPU per published and delivered update, memory, /ws/stats conflation figures, the probes' latency (first update after a quiet interval) and checks that no slab's value ever goes backwards (which fails the run).");
        var common = new CommonOptions(command, duration: 20, warmup: 3, durationHelp: "Measured seconds (after the warm-up).", channelPrefix: "price:");
        Option<int> subscribers = Add(command, new Option<int>("--subscribers", "-s") { Description = "Subscriber connections.", DefaultValueFactory = _ => 1000 });
        Option<int> slabs = Add(command, new Option<int>("--slabs") { Description = "Slabs: channels PREFIXS0..PREFIXS{n-1}; publishes go round robin over them.", DefaultValueFactory = _ => 1000 });
        Option<int> perSubscriber = Add(command, new Option<int>("--slabs-per-subscriber", "-k") { Description = "Slabs per subscriber: subscriber i takes slabs i*K .. i*K+K-1 (mod slabs).", DefaultValueFactory = _ => 10 });
        Option<double> rate = Add(command, new Option<double>("--rate", "-r") { Description = "Slab updates per second, in total over all slabs.", DefaultValueFactory = _ => 50000 });
        Option<int> probes = Add(command, new Option<int>("--probes") { Description = "Probe slabs PREFIXP0..: each updated once every --probe-every s (staggered), so every update follows a quiet interval; subscriber i takes probe i mod P. 0 = none.", DefaultValueFactory = _ => 20 });
        Option<double> probeEvery = Add(command, new Option<double>("--probe-every") { Description = "Seconds between two updates of one probe slab (more than the server's conflation interval).", DefaultValueFactory = _ => 1.5 });
        Option<double> interval = Add(command, new Option<double>("--conflation-ms") { Description = "The server's conflation interval for the namespace, in ms (FastWs price: 500): for the report and the drain; the server's setting decides.", DefaultValueFactory = _ => 500 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "Bytes of each published data object {\"t\":..,\"v\":..,\"p\":\"xx..\"} (minimum about 40).", DefaultValueFactory = _ => 100 });
        Option<int> publishers = Add(command, new Option<int>("--publishers") { Description = "WebSocket publisher connections for the slabs (slab i always on connection i mod P); the probes have one more.", DefaultValueFactory = _ => 1 });
        Option<string?> statsUrl = Add(command, new Option<string?>("--stats-url") { Description = "The server's stats (default: http://HOST:PORT/ws/stats from a ws:// --url; FastWs answers it on its WebSocket port)." });
        Option<double> onTime = Add(command, new Option<double>("--on-time-ms") { Description = "Deliveries slower than this count as 'late'.", DefaultValueFactory = _ => 100 });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "conflation", s => s with
        {
            Subscribers = result.GetValue(subscribers),
            Slabs = result.GetValue(slabs),
            ChannelsPerSubscriber = result.GetValue(perSubscriber),
            Rate = result.GetValue(rate),
            Probes = result.GetValue(probes),
            ProbeEvery = result.GetValue(probeEvery),
            ConflationMs = result.GetValue(interval),
            Payload = result.GetValue(payload),
            Publishers = result.GetValue(publishers),
            StatsUrlText = result.GetValue(statsUrl),
            OnTimeMs = result.GetValue(onTime),
        })));
        return command;
    }

    private static Command BuildHistoryMemory()
    {
        var command = new Command("history-memory", "Fills M new channels of a namespace with history (trades: by default) with N messages of B bytes each through POST /api/publish, and reports the memory per channel and per kept message from /ws/stats (history buffers, working set, GC heap) and /proc.");
        var common = new CommonOptions(command, duration: 300, warmup: 0, durationHelp: "Longest the fill may take; it stops there.", channelPrefix: "trades:");
        Option<int> channels = Add(command, new Option<int>("--channels", "-c") { Description = "Channels to fill (new ones: PREFIXhm-<run tag>-<i>).", DefaultValueFactory = _ => 1000 });
        Option<int> messages = Add(command, new Option<int>("--messages", "-m") { Description = "Messages published to each channel.", DefaultValueFactory = _ => 1000 });
        Option<int> payload = Add(command, new Option<int>("--payload") { Description = "Bytes of each published data object (minimum about 30).", DefaultValueFactory = _ => 100 });
        Option<int> batch = Add(command, new Option<int>("--batch") { Description = "Messages per POST (each body also stays under about 1 MiB).", DefaultValueFactory = _ => 1000 });
        Option<double> settle = Add(command, new Option<double>("--settle") { Description = "Seconds to wait after the fill before the last reading.", DefaultValueFactory = _ => 2 });
        Option<string?> httpUrl = Add(command, new Option<string?>("--http-url") { Description = "Publish API (default: http://HOST:8081/api/publish, HOST from --url)." });
        Option<string?> statsUrl = Add(command, new Option<string?>("--stats-url") { Description = "The server's stats (default: /ws/stats on the --http-url's host and port)." });

        command.SetAction(result => Program.RunAsync(common.Settings(result, "history-memory", s => s with
        {
            Channels = result.GetValue(channels),
            Messages = result.GetValue(messages),
            Payload = result.GetValue(payload),
            Batch = result.GetValue(batch),
            Hold = result.GetValue(settle),
            HttpUrlText = result.GetValue(httpUrl),
            StatsUrlText = result.GetValue(statsUrl),
            PublishVia = PublishVia.Http,
        })));
        return command;
    }

    private static Command BuildKeyGen()
    {
        var command = new Command("keygen", "Writes a key pair for --mint-token es256: DIR/key.pem (PEM EC P-256 private key, for --mint-key) and DIR/pub.pem (public key, for the server's FastWs:Auth:Jwt:PublicKeyFiles).");
        var algorithm = new Argument<string>("algorithm") { Description = "Key type: es256 (EC P-256)." };
        algorithm.AcceptOnlyFromAmong("es256");
        command.Arguments.Add(algorithm);
        Option<string> output = Add(command, new Option<string>("--out", "-o") { Description = "Directory for key.pem and pub.pem (created if missing).", DefaultValueFactory = _ => "." });
        Option<bool> force = Add(command, new Option<bool>("--force") { Description = "Overwrite existing key.pem / pub.pem." });
        command.SetAction(result => KeyGen.Run(result.GetValue(output) ?? ".", result.GetValue(force)));
        return command;
    }

    private static T Add<T>(Command command, T option)
        where T : Option
    {
        command.Options.Add(option);
        return option;
    }

    /// <summary>Options every scenario has.</summary>
    private sealed class CommonOptions
    {
        private readonly Option<string[]> _url;
        private readonly Option<string?> _publishUrl;
        private readonly Option<string> _protocol;
        private readonly Option<double> _duration;
        private readonly Option<double> _warmup;
        private readonly Option<double> _grace;
        private readonly Option<int[]> _serverPid;
        private readonly Option<string?> _report;
        private readonly Option<string[]> _thresholds;
        private readonly Option<string> _prefix;
        private readonly Option<string> _subscribeVia;
        private readonly Option<int> _connectConcurrency;
        private readonly Option<double> _connectTimeout;
        private readonly Option<bool> _noProgress;
        private readonly Option<double?> _maxRunTime;
        private readonly Option<string?> _token;
        private readonly Option<string?> _tokenFile;
        private readonly Option<string?> _mint;
        private readonly Option<string?> _mintSecret;
        private readonly Option<string?> _mintKey;
        private readonly Option<string?> _mintSubject;
        private readonly Option<string?> _mintIssuer;
        private readonly Option<string?> _mintAudience;
        private readonly Option<string?> _mintLifetime;
        private readonly Option<string?> _tokenIn;
        private readonly Option<string?> _ca;
        private readonly Option<bool> _insecure;
        private readonly Option<bool> _deflate;

        public CommonOptions(Command command, double duration, double warmup, string durationHelp, string channelPrefix = "bench:")
        {
            _url = Add(command, new Option<string[]>("--url", "-u") { Description = "WebSocket URL (ws:// or wss://, loopback only). Repeat it for several nodes: connection i goes to URL i mod N (subscribers round robin).", DefaultValueFactory = _ => [DefaultUrl], AllowMultipleArgumentsPerToken = false });
            _publishUrl = Add(command, new Option<string?>("--publish-url") { Description = "WebSocket URL of the publisher connections (default: the first --url)." });
            _protocol = Add(command, new Option<string>("--protocol") { Description = "fastws: the FastWs JSON protocol; signalr: ASP.NET Core SignalR's JSON hub protocol (fanout and slow only: Subscribe(channel) joins a group, Publish(channel, data) sends message(channel, data) to it).", DefaultValueFactory = _ => "fastws" });
            _protocol.AcceptOnlyFromAmong("fastws", "signalr");
            _duration = Add(command, new Option<double>("--duration", "-d") { Description = durationHelp + " Seconds.", DefaultValueFactory = _ => duration });
            _warmup = Add(command, new Option<double>("--warmup", "-w") { Description = "Warm-up seconds before the measured window.", DefaultValueFactory = _ => warmup });
            _grace = Add(command, new Option<double>("--grace") { Description = "Seconds to wait after the window for in-flight messages (and the close budget).", DefaultValueFactory = _ => 2 });
            _serverPid = Add(command, new Option<int[]>("--server-pid") { Description = "Server process to sample from /proc: CPU time and RSS. Repeat it for several processes (nodes, Redis): CPU and RSS are summed over them and also reported per process.", AllowMultipleArgumentsPerToken = false });
            _report = Add(command, new Option<string?>("--report") { Description = "Directory to write summary.json, report.html and (fanout, slow) latency.hlog into (created if missing)." });
            _thresholds = Add(command, new Option<string[]>("--threshold") { Description = "Pass/fail rule METRIC OP VALUE[UNIT], repeatable; quote it in the shell: --threshold 'p99<10ms'. Exit code 2 if any fails.", AllowMultipleArgumentsPerToken = false });
            _prefix = Add(command, new Option<string>("--channel-prefix") { Description = "Channel names are PREFIX1..PREFIXn.", DefaultValueFactory = _ => channelPrefix });
            _subscribeVia = Add(command, new Option<string>("--subscribe-via") { Description = "message: send {\"type\":\"subscribe\"} after the handshake; url: ?subscribe=CHANNEL in the upgrade URL.", DefaultValueFactory = _ => "message" });
            _subscribeVia.AcceptOnlyFromAmong("message", "url");
            _connectConcurrency = Add(command, new Option<int>("--connect-concurrency") { Description = "Handshakes in flight at once while opening connections.", DefaultValueFactory = _ => 64 });
            _connectTimeout = Add(command, new Option<double>("--connect-timeout") { Description = "Seconds allowed for connect + upgrade + subscribe ack.", DefaultValueFactory = _ => 10 });
            ReceiveBuffer = Add(command, new Option<int>("--recv-buffer") { Description = "Bytes read per receive call per connection (default 16384; connect 2048, churn 4096).", DefaultValueFactory = _ => 16 * 1024 });
            _noProgress = Add(command, new Option<bool>("--no-progress") { Description = "No per-second progress lines on stderr." });
            _maxRunTime = Add(command, new Option<double?>("--max-run-time") { Description = "Hard limit in seconds for the whole run, connecting included (default: warm-up + duration + hold + grace + 120). The run then stops with a partial report." });

            // Tokens: no defaults on the options themselves, so that validation can tell a given one from an absent one
            // (--mint-subject without --mint-token is a mistake worth an error, not a silent no-op).
            _token = Add(command, new Option<string?>("--token") { Description = "One token (JWT) for every connection. Never printed." });
            _tokenFile = Add(command, new Option<string?>("--token-file") { Description = "File with one token per line; connection i gets line i mod N." });
            _mint = Add(command, new Option<string?>("--mint-token") { Description = "Mint one token per connection before the ramp: hs256 (with --mint-secret) or es256 (with --mint-key)." });
            _mint.AcceptOnlyFromAmong("hs256", "es256");
            _mintSecret = Add(command, new Option<string?>("--mint-secret") { Description = "HS256 shared secret (UTF-8, at least 32 bytes): the server's FastWs:Auth:Jwt:HmacSecret." });
            _mintKey = Add(command, new Option<string?>("--mint-key") { Description = "ES256 signing key: PEM EC P-256 private key file (see the keygen command)." });
            _mintSubject = Add(command, new Option<string?>("--mint-subject") { Description = "Subject prefix: connection i gets sub=PREFIX+i (default loadgen-)." });
            _mintIssuer = Add(command, new Option<string?>("--mint-issuer") { Description = "iss of minted tokens (default: none)." });
            _mintAudience = Add(command, new Option<string?>("--mint-audience") { Description = "aud of minted tokens (default: none)." });
            _mintLifetime = Add(command, new Option<string?>("--mint-lifetime") { Description = "Lifetime of minted tokens: 90s, 30m, 1h, 2d or hh:mm:ss (default 1h)." });
            _tokenIn = Add(command, new Option<string?>("--token-in") { Description = "Where the token goes: header (Authorization: Bearer, the default), url (token= query parameter) or message (first text frame {\"type\":\"auth\",\"token\":..})." });
            _tokenIn.AcceptOnlyFromAmong("url", "header", "message");

            // TLS (wss:// URLs only).
            _ca = Add(command, new Option<string?>("--ca") { Description = "wss://: trust the certificates in this PEM file (a test's self-signed certificate or its CA); chain and host name are still checked." });
            _insecure = Add(command, new Option<bool>("--insecure") { Description = "wss://: accept any server certificate (encryption without authentication; for throwaway test certificates)." });
            _deflate = Add(command, new Option<bool>("--deflate") { Description = "Offer permessage-deflate (as browsers do) on every connection and inflate the server's compressed messages (System.IO.Compression)." });
        }

        public Option<int> ReceiveBuffer { get; }

        /// <summary>
        /// --recv-buffer when given on the command line, else the scenario's own default. (An option with a default
        /// always has a result; only an explicit one says the user chose the size.)
        /// </summary>
        public int ReceiveBufferOr(ParseResult result, int scenarioDefault) =>
            result.GetResult(ReceiveBuffer) is { Implicit: false } ? result.GetValue(ReceiveBuffer) : scenarioDefault;

        public ParsedOptions Settings(ParseResult result, string scenario, Func<ParsedOptions, ParsedOptions> scenarioSpecific) =>
            scenarioSpecific(new ParsedOptions
            {
                Scenario = scenario,
                Url = result.GetValue(_url) is { Length: > 0 } urls ? urls[0] : DefaultUrl,
                MoreUrls = result.GetValue(_url) is { Length: > 1 } more ? more[1..] : [],
                PublishUrlText = result.GetValue(_publishUrl),
                Protocol = result.GetValue(_protocol) == "signalr" ? WireProtocol.SignalR : WireProtocol.FastWs,
                Duration = result.GetValue(_duration),
                Warmup = result.GetValue(_warmup),
                Grace = result.GetValue(_grace),
                ServerPids = result.GetValue(_serverPid) ?? [],
                ReportDir = result.GetValue(_report),
                Thresholds = result.GetValue(_thresholds) ?? [],
                ChannelPrefix = result.GetValue(_prefix) ?? "bench:",
                SubscribeVia = result.GetValue(_subscribeVia) == "url" ? SubscribeVia.Url : SubscribeVia.Message,
                ConnectConcurrency = result.GetValue(_connectConcurrency),
                ConnectTimeout = result.GetValue(_connectTimeout),
                ReceiveBuffer = result.GetValue(ReceiveBuffer),
                Progress = !result.GetValue(_noProgress),
                MaxRunTime = result.GetValue(_maxRunTime),
                CaFile = result.GetValue(_ca),
                Insecure = result.GetValue(_insecure),
                Deflate = result.GetValue(_deflate),
                Token = new TokenArgs
                {
                    Token = result.GetValue(_token),
                    TokenFile = result.GetValue(_tokenFile),
                    Mint = result.GetValue(_mint),
                    MintSecret = result.GetValue(_mintSecret),
                    MintKey = result.GetValue(_mintKey),
                    MintSubject = result.GetValue(_mintSubject),
                    MintIssuer = result.GetValue(_mintIssuer),
                    MintAudience = result.GetValue(_mintAudience),
                    MintLifetime = result.GetValue(_mintLifetime),
                    TokenIn = result.GetValue(_tokenIn),
                },
            });
    }
}

/// <summary>Raw option values before validation (the URL not yet checked for loopback).</summary>
internal sealed record ParsedOptions
{
    public string Scenario { get; init; } = "";
    public string Url { get; init; } = Commands.DefaultUrl;

    /// <summary>Further --url values (several nodes): connection i goes to URL i mod N of [Url, ..MoreUrls].</summary>
    public IReadOnlyList<string> MoreUrls { get; init; } = [];

    public IReadOnlyList<string> Urls => [Url, .. MoreUrls];
    public string? PublishUrlText { get; init; }
    public WireProtocol Protocol { get; init; }
    public double Duration { get; init; }
    public double Warmup { get; init; }
    public double Grace { get; init; }
    public IReadOnlyList<int> ServerPids { get; init; } = [];
    public string? ReportDir { get; init; }
    public IReadOnlyList<string> Thresholds { get; init; } = [];
    public string ChannelPrefix { get; init; } = "bench:";
    public SubscribeVia SubscribeVia { get; init; }
    public int ConnectConcurrency { get; init; }
    public double ConnectTimeout { get; init; }
    public int ReceiveBuffer { get; init; }
    public bool Progress { get; init; }
    public double? MaxRunTime { get; init; }
    public int Subscribers { get; init; }
    public int Channels { get; init; }
    public double Rate { get; init; }
    public int Payload { get; init; }
    public bool PricePayload { get; init; }
    public bool Deflate { get; init; }
    public int Publishers { get; init; } = 1;
    public PublishVia PublishVia { get; init; }
    public string? HttpUrlText { get; init; }
    public double OnTimeMs { get; init; } = 100;
    public double SlowShare { get; init; }
    public int SlowSocketBuffer { get; init; }
    public int Connections { get; init; }
    public double Hold { get; init; }
    public int Concurrency { get; init; }
    public ChurnWait ChurnWait { get; init; }
    public int ChannelsPerSubscriber { get; init; }
    public double DropMin { get; init; }
    public double DropMax { get; init; }
    public double Offline { get; init; }
    public int Slabs { get; init; }
    public int Probes { get; init; }
    public double ProbeEvery { get; init; }
    public double ConflationMs { get; init; }
    public string? StatsUrlText { get; init; }
    public int Messages { get; init; }
    public int Batch { get; init; }
    public double Window { get; init; }
    public bool Jitter { get; init; } = true;

    public TokenArgs Token { get; init; } = new();

    /// <summary>--ca: PEM certificates to trust for wss://.</summary>
    public string? CaFile { get; init; }

    /// <summary>--insecure: accept any certificate for wss://.</summary>
    public bool Insecure { get; init; }

    /// <summary>Checks ranges and the loopback rule; returns the settings or an error message.</summary>
    public (RunSettings? Settings, string? Error) Validate()
    {
        string? error = LoopbackGuard.Check(Url, ["ws", "wss"], out Uri? uri, out System.Net.IPAddress? address);
        if (error is not null)
        {
            return (null, error);
        }

        // Every further --url and the --publish-url: loopback too, and the same scheme as the first (one TLS setting for all).
        var others = new List<(Uri Uri, System.Net.IPAddress Address)>();
        foreach (string text in Urls.Skip(1).Append(PublishUrlText ?? Url))
        {
            error = LoopbackGuard.Check(text, ["ws", "wss"], out Uri? other, out System.Net.IPAddress? otherAddress);
            if (error is not null)
            {
                return (null, (ReferenceEquals(text, PublishUrlText) ? "--publish-url " : "") + error);
            }

            if (!string.Equals(other!.Scheme, uri!.Scheme, StringComparison.OrdinalIgnoreCase))
            {
                return (null, $"{text}: every --url and --publish-url must use the same scheme as the first ({uri.Scheme}://)");
            }

            others.Add((other, otherAddress!));
        }

        System.Net.Security.SslClientAuthenticationOptions? tls = null;
        if (string.Equals(uri!.Scheme, "wss", StringComparison.OrdinalIgnoreCase))
        {
            (tls, error) = TlsTrust.Create(uri, CaFile, Insecure);
            if (error is not null)
            {
                return (null, error);
            }
        }
        else if (CaFile is not null || Insecure)
        {
            return (null, "--ca and --insecure need a wss:// URL");
        }

        Uri? httpUrl = null;
        if (PublishVia == PublishVia.Http || Scenario == "history-memory")
        {
            string text = HttpUrlText ?? $"http://{uri!.Host}:8081/api/publish";
            error = LoopbackGuard.Check(text, ["http"], out httpUrl, out _);
            if (error is not null)
            {
                return (null, "--http-url " + error);
            }
        }

        Uri? statsUrl = null;
        string? statsText = StatsUrlText
            ?? (Scenario is "conflation" or "storm" ? StatsReader.DefaultFor(uri!)
                : Scenario == "history-memory" ? new UriBuilder(httpUrl!) { Path = "/ws/stats", Query = "" }.Uri.ToString()
                : null);
        if (statsText is not null)
        {
            error = LoopbackGuard.Check(statsText, ["http"], out statsUrl, out _);
            if (error is not null)
            {
                return (null, "--stats-url " + error);
            }
        }

        string? range =
            Duration <= 0 ? "--duration must be > 0" :
            Warmup < 0 ? "--warmup must be >= 0" :
            Grace < 0 ? "--grace must be >= 0" :
            ConnectConcurrency < 1 ? "--connect-concurrency must be >= 1" :
            ConnectTimeout <= 0 ? "--connect-timeout must be > 0" :
            ReceiveBuffer < 256 ? "--recv-buffer must be >= 256" :
            Scenario is "fanout" or "slow" && Subscribers < 1 ? "--subscribers must be >= 1" :
            Scenario is "fanout" or "slow" && Channels < 1 ? "--channels must be >= 1" :
            Scenario is "fanout" or "slow" && Rate <= 0 ? "--rate must be > 0" :
            Scenario is "fanout" or "slow" && Publishers < 1 ? "--publishers must be >= 1" :
            Scenario is "slow" && SlowShare is <= 0 or >= 1 ? "--slow-share must be between 0 and 1" :
            Scenario == "connect" && Connections < 1 ? "--connections must be >= 1" :
            Scenario == "connect" && (Rate < 0 || Channels < 0 || Hold < 0) ? "--rate, --channels and --hold must be >= 0" :
            Scenario == "churn" && (Concurrency < 1 || Channels < 1) ? "--concurrency and --channels must be >= 1" :
            Scenario == "churn" && ChurnWait == ChurnWait.Message && Rate <= 0 ? "--rate must be > 0 with --wait message" :
            Scenario == "reconnect" && (Subscribers < 1 || Channels < 1) ? "--subscribers and --channels must be >= 1" :
            Scenario == "reconnect" && (ChannelsPerSubscriber < 1 || ChannelsPerSubscriber > Channels) ? "--channels-per-subscriber must be between 1 and --channels" :
            Scenario == "reconnect" && Rate <= 0 ? "--rate must be > 0" :
            Scenario == "reconnect" && DropMin < 0.05 ? "--drop-min must be >= 0.05 (seconds)" :
            Scenario == "reconnect" && DropMax < DropMin ? "--drop-max must be >= --drop-min" :
            Scenario == "reconnect" && Offline < 0 ? "--offline must be >= 0" :
            Scenario == "reconnect" && SubscribeVia == SubscribeVia.Url ? "reconnect subscribes with a message (since cannot go in the URL): leave out --subscribe-via url" :
            Scenario == "storm" && (Subscribers < 1 || Channels < 1 || Rate <= 0) ? "--clients, --channels and --rate must be > 0" :
            Scenario == "storm" && (ChannelsPerSubscriber < 1 || ChannelsPerSubscriber > Channels) ? "--channels-per-client must be between 1 and --channels" :
            Scenario == "storm" && Window < 1 ? "--window must be >= 1 (seconds: the bound counts handshakes per second)" :
            Scenario == "storm" && Duration < Window ? "--duration must be at least --window (the clients come back within it)" :
            Scenario == "storm" && !string.Equals(uri!.Scheme, "ws", StringComparison.OrdinalIgnoreCase) ? "storm runs over ws:// only (its relay passes TCP through)" :
            Scenario == "storm" && (Token.Token ?? Token.TokenFile ?? Token.Mint) is not null ? "storm runs its clients without tokens: leave out the token options" :
            Scenario == "conflation" && (Subscribers < 1 || Slabs < 1 || Rate <= 0 || Publishers < 1) ? "--subscribers, --slabs, --rate and --publishers must be > 0" :
            Scenario == "conflation" && (ChannelsPerSubscriber < 1 || ChannelsPerSubscriber > Slabs) ? "--slabs-per-subscriber must be between 1 and --slabs" :
            Scenario == "conflation" && (Probes < 0 || ConflationMs <= 0) ? "--probes must be >= 0 and --conflation-ms > 0" :
            Scenario == "conflation" && Probes > 0 && ProbeEvery * 1000 <= ConflationMs ? "--probe-every must be longer than the conflation interval (--conflation-ms), or a probe update would not follow a quiet interval" :
            Scenario == "conflation" && SubscribeVia == SubscribeVia.Url ? "conflation subscribes each connection to several channels with a message: leave out --subscribe-via url" :
            Scenario == "history-memory" && (Channels < 1 || Messages < 1 || Batch < 1 || Hold < 0) ? "--channels, --messages and --batch must be >= 1, --settle >= 0" :
            Scenario == "history-memory" && (long)Channels * Messages > 100_000_000 ? "--channels × --messages must be at most 100,000,000" :
            Payload is < 0 or > 8 * 1024 * 1024 ? "--payload must be between 0 and 8 MiB" :
            ServerPids.Any(p => p <= 0) ? "--server-pid must be a process id" :
            ServerPids.Distinct().Count() != ServerPids.Count ? "--server-pid: the same process is given twice" :
            Protocol == WireProtocol.SignalR && Scenario is not ("fanout" or "slow") ? "--protocol signalr is for fanout and slow only" :
            Protocol == WireProtocol.SignalR && SubscribeVia == SubscribeVia.Url ? "--protocol signalr subscribes with a hub invocation: leave out --subscribe-via url" :
            Protocol == WireProtocol.SignalR && PublishVia == PublishVia.Http ? "--protocol signalr publishes with a hub invocation: leave out --publish-via http" :
            Protocol == WireProtocol.SignalR && (Token.Token ?? Token.TokenFile ?? Token.Mint) is not null ? "--protocol signalr does not send tokens" :
            null;
        if (range is not null)
        {
            return (null, range);
        }

        // Last: it reads the token file or the key, so a bad one stops the run before any traffic too.
        (TokenPlan? token, string? tokenError) = Token.Validate();
        if (token is null)
        {
            return (null, tokenError);
        }

        var settings = new RunSettings
        {
            Scenario = Scenario,
            Url = Url,
            Endpoint = new WsEndpoint(uri!, address!, tls),
            Urls = Urls,
            Endpoints = [new WsEndpoint(uri!, address!, tls), .. others.Take(Urls.Count - 1).Select(o => new WsEndpoint(o.Uri, o.Address, tls))],
            PublishUrl = PublishUrlText ?? Url,
            PublishEndpoint = new WsEndpoint(others[^1].Uri, others[^1].Address, tls),
            Protocol = Protocol,
            TlsDescription = tls is null ? null : TlsTrust.Describe(CaFile, Insecure),
            Duration = Duration,
            Warmup = Warmup,
            Grace = Grace,
            ServerPids = ServerPids,
            ReportDir = ReportDir,
            Thresholds = Thresholds,
            ChannelPrefix = ChannelPrefix,
            SubscribeVia = SubscribeVia,
            ConnectConcurrency = ConnectConcurrency,
            ConnectTimeout = ConnectTimeout,
            ReceiveBuffer = ReceiveBuffer,
            Progress = Progress,
            Subscribers = Subscribers,
            Channels = Channels,
            Rate = Rate,
            Payload = Payload,
            PricePayload = PricePayload,
            Deflate = Deflate,
            Publishers = Publishers,
            PublishVia = PublishVia,
            HttpUrl = httpUrl,
            OnTimeMs = OnTimeMs,
            SlowShare = SlowShare,
            SlowSocketBuffer = SlowSocketBuffer,
            Connections = Connections,
            Hold = Hold,
            Concurrency = Concurrency,
            ChurnWait = ChurnWait,
            ChannelsPerSubscriber = ChannelsPerSubscriber,
            DropMin = DropMin,
            DropMax = DropMax,
            Offline = Offline,
            Slabs = Slabs,
            Probes = Probes,
            ProbeEvery = ProbeEvery,
            ConflationMs = ConflationMs,
            StatsUrl = statsUrl,
            Messages = Messages,
            Batch = Batch,
            Window = Window,
            Jitter = Jitter,
            Token = token,
        };
        return (settings, null);
    }

    /// <summary>Hard limit for the whole run.</summary>
    public double RunTimeLimit => MaxRunTime ?? (Warmup + Duration + Hold + Grace + 120);
}
