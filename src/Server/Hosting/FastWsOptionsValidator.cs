using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using FastWs.Server.Auth;
using FastWs.Server.Channels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace FastWs.Server.Hosting;

/// <summary>
/// Checks the whole "FastWs" section before anything is built or bound: every problem becomes one line naming the
/// setting's configuration path (<c>FastWs:Heartbeat:PongTimeout: ...</c>), and all of them together fail the start
/// as one <see cref="OptionsValidationException"/> (Program prints its message and exits with 1; no stack trace).
/// </summary>
/// <remarks>
/// Runs at start only, never on a connection's path. Rules that objects built later also enforce (the origin list,
/// token keys, key patterns) are checked here by building the same objects once, so that their messages come
/// together with the rest instead of from deep inside the server's construction.
/// </remarks>
public sealed class FastWsOptionsValidator : IValidateOptions<FastWsOptions>
{
    private const string Root = FastWsOptions.SectionName;
    private readonly IConfiguration? _configuration;

    /// <param name="configuration">
    /// The raw configuration, to see access rules the binder dropped (it skips a dictionary value it cannot convert,
    /// which would leave a misspelt rule at its default); null checks the bound object only.
    /// </param>
    public FastWsOptionsValidator(IConfiguration? configuration = null)
    {
        _configuration = configuration;
    }

    public ValidateOptionsResult Validate(string? name, FastWsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        CheckEndpoints(options, failures);
        CheckSizes(options, failures);
        CheckTimeouts(options, failures);
        CheckLimits(options.Limits, failures);
        CheckNamespaces(options, failures);
        CheckAuth(options, failures);
        CheckTelemetry(options.Telemetry, failures);
        CheckBroker(options.Broker, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The problems with <paramref name="options"/> (empty when it is valid), for callers outside the options pipeline.</summary>
    public IReadOnlyList<string> Problems(FastWsOptions options) =>
        Validate(Options.DefaultName, options) is { Failed: true } result ? [.. result.Failures!] : [];

    private static void CheckEndpoints(FastWsOptions options, List<string> failures)
    {
        IPAddress? webSocket = CheckEndpoint("WebSocket", options.WebSocket, failures);
        IPAddress? http = CheckEndpoint("Http", options.Http, failures);
        if (webSocket is not null && http is not null && options.WebSocket.Port != 0 && options.WebSocket.Port == options.Http.Port
            && (webSocket.Equals(http) || IsAny(webSocket) || IsAny(http)))
        {
            failures.Add($"{Root}:Http:Port: {options.Http.Port} is also {Root}:WebSocket:Port; the two endpoints need different ports");
        }

        if (string.IsNullOrEmpty(options.Path) || options.Path[0] != '/' || options.Path.Any(c => c <= ' ' || c == '?' || c == '#' || c > '~'))
        {
            failures.Add($"{Root}:Path: '{options.Path}' is not a request path (it starts with '/' and has no spaces, '?' or '#')");
        }

        if (options.Api.ConnectionsRole is not { Length: > 0 } role || string.IsNullOrWhiteSpace(role))
        {
            failures.Add($"{Root}:Api:ConnectionsRole: must name a role");
        }
    }

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static IPAddress? CheckEndpoint(string endpoint, EndpointOptions options, List<string> failures)
    {
        string path = $"{Root}:{endpoint}";
        IPAddress? address = null;
        if (string.IsNullOrWhiteSpace(options.Address) || !IPAddress.TryParse(options.Address, out address))
        {
            failures.Add($"{path}:Address: '{options.Address}' is not an IP address (127.0.0.1, 0.0.0.0, ::1, ...)");
        }

        if (options.Port is < 0 or > 65535)
        {
            failures.Add($"{path}:Port: {options.Port} is not a port (0..65535; 0 picks a free one)");
        }

        TlsOptions tls = options.Tls;
        if (tls.Enabled)
        {
            CheckFile($"{path}:Tls:CertificateFile", tls.CertificateFile!, failures);
            if (!string.IsNullOrWhiteSpace(tls.KeyFile))
            {
                CheckFile($"{path}:Tls:KeyFile", tls.KeyFile, failures);
            }
        }
        else if (!string.IsNullOrWhiteSpace(tls.KeyFile))
        {
            failures.Add($"{path}:Tls:KeyFile: set without {path}:Tls:CertificateFile (TLS is on only when the certificate file is set)");
        }

        return address;
    }

    /// <summary>The same words as <see cref="CertificateSource"/> uses for a file that vanished later.</summary>
    private static void CheckFile(string setting, string file, List<string> failures)
    {
        if (!File.Exists(file))
        {
            failures.Add($"{setting}: file not found: {Path.GetFullPath(file)}");
        }
    }

    private static void CheckSizes(FastWsOptions options, List<string> failures)
    {
        Positive("MaxMessageSize", options.MaxMessageSize, failures);
        Positive("MaxHandshakeHeaderBytes", options.MaxHandshakeHeaderBytes, failures);
        Positive("SlowConsumer:MaxBufferedBytes", options.SlowConsumer.MaxBufferedBytes, failures);
        NotNegative("SlowConsumer:SocketSendBufferBytes", options.SlowConsumer.SocketSendBufferBytes, failures);
        NotNegative("FanOutShards", options.FanOutShards, failures);
        Positive("FanOutQueueCapacity", options.FanOutQueueCapacity, failures);
        NotNegative("FanOutInlineDeliveryBudget", options.FanOutInlineDeliveryBudget, failures);
        NotNegative("Transport:IoThreads", options.Transport.IoThreads, failures);
        NotNegative("Memory:TrimMinAllocatedBytes", options.Memory.TrimMinAllocatedBytes, failures);
        Defined("Transport:Engine", options.Transport.Engine, failures);
        Defined("Limits:KeyGroupLimitAction", options.Limits.KeyGroupLimitAction, failures);
    }

    private static void CheckTimeouts(FastWsOptions options, List<string> failures)
    {
        NotNegative("HandshakeTimeout", options.HandshakeTimeout, failures);
        NotNegative("CloseTimeout", options.CloseTimeout, failures);
        NotNegative("SlowConsumer:MaxCongestedTime", options.SlowConsumer.MaxCongestedTime, failures);
        NotNegative("Memory:TrimAfterIdle", options.Memory.TrimAfterIdle, failures);
        NotNegative("Transport:DeferAccept", options.Transport.DeferAccept, failures);
        if (options.Transport.DeferAccept > TimeSpan.FromHours(1))
        {
            failures.Add($"{Root}:Transport:DeferAccept: {options.Transport.DeferAccept} is over the hour TCP_DEFER_ACCEPT allows here");
        }

        HeartbeatOptions heartbeat = options.Heartbeat;
        NotNegative("Heartbeat:PingInterval", heartbeat.PingInterval, failures);
        NotNegative("Heartbeat:PongTimeout", heartbeat.PongTimeout, failures);
        if (heartbeat.PingInterval > TimeSpan.Zero)
        {
            if (heartbeat.PongTimeout <= TimeSpan.Zero)
            {
                failures.Add($"{Root}:Heartbeat:PongTimeout: must be positive while pings are on ({Root}:Heartbeat:PingInterval {heartbeat.PingInterval}); set PingInterval to 0 to switch heartbeats off");
            }
            else if (heartbeat.PongTimeout >= heartbeat.PingInterval)
            {
                failures.Add($"{Root}:Heartbeat:PongTimeout: {heartbeat.PongTimeout} must be shorter than {Root}:Heartbeat:PingInterval ({heartbeat.PingInterval}): a connection must have answered one ping before the next is due");
            }
        }
    }

    private static void CheckLimits(LimitOptions limits, List<string> failures)
    {
        NotNegative("Limits:MaxConnections", limits.MaxConnections, failures);
        NotNegative("Limits:MaxConnectionsPerIp", limits.MaxConnectionsPerIp, failures);
        NotNegative("Limits:MaxSubscribersPerKeyGroup", limits.MaxSubscribersPerKeyGroup, failures);
        NotNegative("Limits:MaxSubscriptionsPerConnection", limits.MaxSubscriptionsPerConnection, failures);
        NotNegative("Limits:MaxMessagesPerWindow", limits.MaxMessagesPerWindow, failures);
        NotNegative("Limits:MaxRateLimitErrors", limits.MaxRateLimitErrors, failures);
        NotNegative("Limits:MaxPublishesPerSecond", limits.MaxPublishesPerSecond, failures);
        if (limits.MaxConnections > 0 && limits.MaxConnectionsPerIp > limits.MaxConnections)
        {
            failures.Add($"{Root}:Limits:MaxConnectionsPerIp: {limits.MaxConnectionsPerIp} is more than {Root}:Limits:MaxConnections ({limits.MaxConnections}); one IP can never have more than all of them");
        }

        if (limits.MaxMessagesPerWindow > 0 && limits.MessageWindow <= TimeSpan.Zero)
        {
            failures.Add($"{Root}:Limits:MessageWindow: {limits.MessageWindow} must be positive while {Root}:Limits:MaxMessagesPerWindow is on ({limits.MaxMessagesPerWindow})");
        }

        foreach ((string quota, int cap) in limits.SubscriptionQuotas)
        {
            NotNegative($"Limits:SubscriptionQuotas:{quota}", cap, failures);
        }

        for (int i = 0; i < limits.TrustedProxies.Count; i++)
        {
            if (!IPAddress.TryParse(limits.TrustedProxies[i], out _))
            {
                failures.Add($"{Root}:Limits:TrustedProxies:{i}: '{limits.TrustedProxies[i]}' is not an IP address");
            }
        }
    }

    /// <summary>Format, conflation, snapshot, history and retention of one namespace.</summary>
    private static void CheckMarketData(string path, NamespaceOptions ns, List<string> failures)
    {
        if (!Enum.IsDefined(ns.Format))
        {
            failures.Add($"{path}:Format: '{ns.Format}' is not a format; expected Envelope or Inline");
        }

        if (ns.CompressionThreshold < 0)
        {
            failures.Add($"{path}:CompressionThreshold: {ns.CompressionThreshold} must be 0 (compress every message) or more");
        }

        if (ns.WriteDelay < TimeSpan.Zero || ns.WriteDelay > NamespaceOptions.MaxWriteDelay)
        {
            failures.Add($"{path}:WriteDelay: {ns.WriteDelay} must be between 00:00:00 (off) and {NamespaceOptions.MaxWriteDelay} (100 ms)");
        }

        if (ns.ConflationInterval < TimeSpan.Zero || ns.ConflationInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{path}:ConflationInterval: {ns.ConflationInterval} must be between 00:00:00 (off) and one hour");
        }

        if (ns.History is null)
        {
            failures.Add($"{path}:History: missing");
            return;
        }

        if (ns.History.Size < 0 || ns.History.Size > 1_000_000)
        {
            failures.Add($"{path}:History:Size: {ns.History.Size} must be between 0 (none) and 1,000,000");
        }

        if (ns.History.MaxAge < TimeSpan.Zero)
        {
            failures.Add($"{path}:History:MaxAge: {ns.History.MaxAge} must not be negative (00:00:00: no age limit)");
        }

        if (ns.History.MaxBytes < 0)
        {
            failures.Add($"{path}:History:MaxBytes: {ns.History.MaxBytes} must not be negative (0: no byte limit)");
        }

        if (ns.Retention < TimeSpan.Zero)
        {
            failures.Add($"{path}:Retention: {ns.Retention} must not be negative (00:00:00: the state goes with the last subscriber)");
        }
    }

    private void CheckNamespaces(FastWsOptions options, List<string> failures)
    {
        foreach ((string name, NamespaceOptions ns) in options.Namespaces)
        {
            string path = $"{Root}:Namespaces:{name}";
            if (!ChannelName.IsValid(name.AsSpan(), out int namespaceLength) || namespaceLength != name.Length)
            {
                failures.Add($"{path}: '{name}' is not a namespace name (1-{ChannelName.MaxLength} characters of A-Z a-z 0-9 _ . -, no ':')");
            }

            if (ns is null)
            {
                continue;
            }

            if (ns.Subscribe is null)
            {
                failures.Add($"{path}:Subscribe: no rule");
            }

            if (ns.Publish is null)
            {
                failures.Add($"{path}:Publish: no rule");
            }

            if (!string.IsNullOrEmpty(ns.KeyPattern))
            {
                try
                {
                    // As NamespaceCatalog compiles it: anchored, non-backtracking (which refuses some constructs, such as backreferences).
                    _ = new Regex("^(?:" + ns.KeyPattern + ")$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
                }
                catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
                {
                    failures.Add($"{path}:KeyPattern: '{ns.KeyPattern}' is not a valid regular expression: {ex.Message}");
                }
            }

            CheckMarketData(path, ns, failures);

            if (ns.Quota is { } quota && !options.Limits.SubscriptionQuotas.ContainsKey(quota))
            {
                failures.Add($"{path}:Quota: '{quota}' is not one of {Root}:Limits:SubscriptionQuotas ({string.Join(", ", options.Limits.SubscriptionQuotas.Keys)})");
            }
        }

        if (_configuration is null)
        {
            return;
        }

        // The binder skips a dictionary entry whose value does not convert, so a misspelt rule (Subscribe=Ownr) would
        // leave the namespace at its default, Anyone: every rule written in configuration is parsed once more here.
        foreach (IConfigurationSection ns in _configuration.GetSection(Root + ":Namespaces").GetChildren())
        {
            foreach (string action in new[] { "Subscribe", "Publish" })
            {
                string? value = ns[action];
                if (value is not null && !AccessPolicy.TryParse(value, out _))
                {
                    failures.Add($"{ns.Path}:{action}: '{value}' is not an access rule; expected Anyone, Authenticated, Owner, Role:<name>, Loopback or Nobody");
                }
            }

            // The same holds for every other value of a namespace: a typo must not silently leave the default.
            Check(ns, "Format", v => Enum.TryParse<MessageFormat>(v, ignoreCase: true, out MessageFormat f) && Enum.IsDefined(f), "is not a format; expected Envelope or Inline");
            Check(ns, "ConflationInterval", IsTimeSpan, "is not a time span (hh:mm:ss.fff)");
            Check(ns, "WriteDelay", IsTimeSpan, "is not a time span (hh:mm:ss.fff)");
            Check(ns, "Retention", IsTimeSpan, "is not a time span (hh:mm:ss)");
            Check(ns, "Snapshot", v => bool.TryParse(v, out _), "is not true or false");
            Check(ns, "Compression", v => bool.TryParse(v, out _), "is not true or false");
            Check(ns, "CompressionThreshold", v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _), "is not a whole number");
            Check(ns, "History:Size", v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _), "is not a whole number");
            Check(ns, "History:MaxBytes", v => long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out _), "is not a whole number");
            Check(ns, "History:MaxAge", IsTimeSpan, "is not a time span (hh:mm:ss)");
        }

        void Check(IConfigurationSection ns, string key, Func<string, bool> isValid, string problem)
        {
            string? value = ns[key];
            if (value is not null && !isValid(value))
            {
                failures.Add($"{ns.Path}:{key}: '{value}' {problem}");
            }
        }

        static bool IsTimeSpan(string value) => TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out _);
    }

    private static void CheckAuth(FastWsOptions options, List<string> failures)
    {
        AuthOptions auth = options.Auth;
        JwtOptions jwt = auth.Jwt;
        int before = failures.Count;
        NotNegative("Auth:Timeout", auth.Timeout, failures);
        NotNegative("Auth:ExpiryWarning", auth.ExpiryWarning, failures);
        NotNegative("Auth:Jwt:ClockSkew", jwt.ClockSkew, failures);
        Positive("Auth:Jwt:MaxTokenLength", jwt.MaxTokenLength, failures);
        if (string.IsNullOrWhiteSpace(jwt.UserClaim))
        {
            failures.Add($"{Root}:Auth:Jwt:UserClaim: must name a claim (default sub)");
        }

        if (string.IsNullOrWhiteSpace(jwt.RolesClaim))
        {
            failures.Add($"{Root}:Auth:Jwt:RolesClaim: must name a claim (default roles)");
        }

        for (int i = 0; i < jwt.PublicKeyFiles.Count; i++)
        {
            CheckFile($"{Root}:Auth:Jwt:PublicKeyFiles:{i}", jwt.PublicKeyFiles[i], failures);
        }

        if (!string.IsNullOrEmpty(jwt.JwksFile))
        {
            CheckFile($"{Root}:Auth:Jwt:JwksFile", jwt.JwksFile, failures);
        }

        if (failures.Count > before)
        {
            return; // the checks below would only repeat these in other words
        }

        try
        {
            // What the server builds at start: the origin list, the token keys (secret length, PEM files, JWKS) and
            // Auth:Required without keys. Each throws a message that names its setting.
            _ = new Authenticator(auth, options.AllowedOrigins, options.RequireOrigin);
        }
        catch (InvalidOperationException ex)
        {
            failures.Add(ex.Message);
        }
    }

    private void CheckBroker(Broker.BrokerOptions? broker, List<string> failures)
    {
        const string Path = Root + ":Broker";
        if (broker is null)
        {
            failures.Add($"{Path}: missing");
            return;
        }

        // A misspelt kind would otherwise fall back to None and run a node alone without a word.
        string? rawKind = _configuration?[Path + ":Kind"];
        if (!Enum.IsDefined(broker.Kind) || (rawKind is not null && !Enum.TryParse<Broker.BrokerKind>(rawKind, ignoreCase: true, out _)))
        {
            failures.Add($"{Path}:Kind: '{rawKind ?? broker.Kind.ToString()}' is not a broker; expected None or Redis");
        }

        if (broker.InterestLinger < TimeSpan.Zero || broker.InterestLinger > TimeSpan.FromHours(1))
        {
            failures.Add($"{Path}:InterestLinger: {broker.InterestLinger} must be between 00:00:00 and 01:00:00");
        }

        if (broker.MaxPublishesInFlight < 1)
        {
            failures.Add($"{Path}:MaxPublishesInFlight: {broker.MaxPublishesInFlight} must be at least 1");
        }

        if (broker.MaxQueuedPerChannel < 1)
        {
            failures.Add($"{Path}:MaxQueuedPerChannel: {broker.MaxQueuedPerChannel} must be at least 1");
        }

        if (broker.MaxPublishesInFlightPerConnection < 1)
        {
            failures.Add($"{Path}:MaxPublishesInFlightPerConnection: {broker.MaxPublishesInFlightPerConnection} must be at least 1");
        }

        if (broker.FollowTimeout <= TimeSpan.Zero || broker.FollowTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{Path}:FollowTimeout: {broker.FollowTimeout} must be positive and at most 00:05:00");
        }

        Broker.RedisBrokerOptions? redis = broker.Redis;
        if (redis is null)
        {
            failures.Add($"{Path}:Redis: missing");
            return;
        }

        if (broker.Kind == Broker.BrokerKind.Redis)
        {
            try
            {
                if (string.IsNullOrWhiteSpace(redis.Configuration) || StackExchange.Redis.ConfigurationOptions.Parse(redis.Configuration).EndPoints.Count == 0)
                {
                    failures.Add($"{Path}:Redis:Configuration: must name at least one Redis endpoint (host:port)");
                }
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{Path}:Redis:Configuration: not a StackExchange.Redis configuration string: {ex.Message}");
            }
        }

        if (string.IsNullOrWhiteSpace(redis.Prefix) || redis.Prefix.AsSpan().IndexOfAny("{} \t\r\n") >= 0 || redis.Prefix.Length > 64)
        {
            failures.Add($"{Path}:Redis:Prefix: '{redis.Prefix}' must be 1-64 characters without braces or spaces");
        }

        if (redis.MinStateTtl < TimeSpan.FromSeconds(1) || redis.MinStateTtl > TimeSpan.FromDays(30))
        {
            failures.Add($"{Path}:Redis:MinStateTtl: {redis.MinStateTtl} must be between 00:00:01 and 30.00:00:00");
        }
    }

    private static void CheckTelemetry(TelemetryOptions? telemetry, List<string> failures)
    {
        if (telemetry is null)
        {
            failures.Add($"{Root}:Telemetry: missing");
            return;
        }

        if (!Enum.IsDefined(telemetry.OtlpProtocol))
        {
            failures.Add($"{Root}:Telemetry:OtlpProtocol: '{telemetry.OtlpProtocol}' is not a protocol; expected Grpc or HttpProtobuf");
        }

        if (telemetry.ExportInterval < TimeSpan.FromSeconds(1) || telemetry.ExportInterval.TotalMilliseconds > int.MaxValue)
        {
            failures.Add($"{Root}:Telemetry:ExportInterval: {telemetry.ExportInterval} must be at least 00:00:01 (and under 24 days)");
        }

        if (telemetry.ExportTimeout <= TimeSpan.Zero || telemetry.ExportTimeout.TotalMilliseconds > int.MaxValue)
        {
            failures.Add($"{Root}:Telemetry:ExportTimeout: {telemetry.ExportTimeout} must be positive (and under 24 days)");
        }

        if (string.IsNullOrWhiteSpace(telemetry.ServiceName))
        {
            failures.Add($"{Root}:Telemetry:ServiceName: must name the service (default FastWs.Server)");
        }

        if (telemetry.OtlpEnabled
            && (!Uri.TryCreate(telemetry.OtlpEndpoint, UriKind.Absolute, out Uri? endpoint)
                || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)
                || string.IsNullOrEmpty(endpoint.Host)))
        {
            failures.Add($"{Root}:Telemetry:OtlpEndpoint: '{telemetry.OtlpEndpoint}' is not an http:// or https:// address (e.g. http://127.0.0.1:4317); leave it empty to switch the exporter off");
        }
    }

    private static void Positive(string setting, long value, List<string> failures)
    {
        if (value <= 0)
        {
            failures.Add($"{Root}:{setting}: {value} must be positive");
        }
    }

    private static void NotNegative(string setting, long value, List<string> failures)
    {
        if (value < 0)
        {
            failures.Add($"{Root}:{setting}: {value} must not be negative (0 switches it off)");
        }
    }

    private static void NotNegative(string setting, TimeSpan value, List<string> failures)
    {
        if (value < TimeSpan.Zero)
        {
            failures.Add($"{Root}:{setting}: {value} must not be negative (0 switches it off)");
        }
    }

    private static void Defined<T>(string setting, T value, List<string> failures)
        where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            failures.Add($"{Root}:{setting}: {value} is not one of {string.Join(", ", Enum.GetNames<T>())}");
        }
    }
}
