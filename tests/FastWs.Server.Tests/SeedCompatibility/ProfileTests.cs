using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Tests.SeedCompatibility;

/// <summary>
/// Issue 17: the profile files for the two systems FastWs replaces (src/Server/appsettings.MarketData.json and
/// appsettings.IntentsBackend.json, docs/migrating.md), loaded the way an operator loads them: the environment named on
/// the command line, appsettings.{Environment}.json found next to the binary. The configuration binder ignores keys it
/// does not know and values it cannot convert in dictionaries, so a typo in a profile would silently leave a default:
/// every key of each file is checked against the options classes, and the bound values are asserted.
/// </summary>
public sealed class ProfileTests
{
    public static TheoryData<string> Profiles => new() { "MarketData", "IntentsBackend" };

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Every_key_of_the_profile_names_a_setting_and_every_value_converts(string environment)
    {
        string file = Path.Combine(AppContext.BaseDirectory, $"appsettings.{environment}.json");
        Assert.True(File.Exists(file), $"{file} is not copied next to the binary, so --environment {environment} would find nothing");
        IConfigurationRoot configuration = new ConfigurationBuilder().AddJsonFile(file, optional: false).Build();

        Assert.All(configuration.GetChildren(), section => Assert.Contains(section.Key, new[] { FastWsOptions.SectionName, "Logging" }));
        IConfigurationSection fastWs = configuration.GetSection(FastWsOptions.SectionName);
        Assert.True(fastWs.Exists());

        // Bound onto fresh options exactly as FastWsServer.Create binds them (defaults first, then the file).
        var bound = new FastWsOptions();
        fastWs.Bind(bound);
        var problems = new List<string>();
        CheckObject(fastWs, typeof(FastWsOptions), bound, problems);
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_key_check_catches_a_misspelt_setting_and_a_bad_value()
    {
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FastWs:Namespaces:price:ConflationIntervall"] = "00:00:00.500",
            ["FastWs:Limits:KeyGroupLimitAction"] = "Closed",
            ["FastWs:Namespaces:price:Subscribe"] = "Anyone",
        }).Build();

        var problems = new List<string>();
        CheckObject(configuration.GetSection(FastWsOptions.SectionName), typeof(FastWsOptions), null, problems, compare: false);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("ConflationIntervall", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("KeyGroupLimitAction", StringComparison.Ordinal));
    }

    [Fact]
    public void The_key_check_catches_a_namespace_the_binder_dropped_for_one_bad_value()
    {
        // The binder does not throw here: it leaves the whole "price" entry at its defaults, the good value included.
        IConfigurationRoot configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FastWs:Namespaces:price:Format"] = "Inlin",
            ["FastWs:Namespaces:price:ConflationInterval"] = "00:00:02",
        }).Build();
        var bound = new FastWsOptions();
        configuration.GetSection(FastWsOptions.SectionName).Bind(bound);
        Assert.Equal(TimeSpan.FromMilliseconds(500), bound.Namespaces["price"].ConflationInterval);

        var problems = new List<string>();
        CheckObject(configuration.GetSection(FastWsOptions.SectionName), typeof(FastWsOptions), bound, problems);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("price:Format", StringComparison.Ordinal) && p.Contains("Inlin", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("price:ConflationInterval", StringComparison.Ordinal) && p.Contains("was bound as", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MarketData_binds_the_seed_servers_behaviour_and_keeps_the_other_defaults()
    {
        await using ProfileServer server = await ProfileServer.StartAsync("MarketData");
        FastWsOptions options = server.Options;

        Assert.Equal("MarketData", server.Server.Services.GetRequiredService<IHostEnvironment>().EnvironmentName);
        Assert.Equal("/", options.Path);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Heartbeat.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Heartbeat.PongTimeout);
        Assert.Equal(64 * 1024, options.SlowConsumer.MaxBufferedBytes);
        Assert.Equal(1000, options.Limits.MaxConnections);
        Assert.Equal(5, options.Limits.MaxConnectionsPerIp);
        Assert.Equal(100, options.Limits.MaxSubscribersPerKeyGroup);
        Assert.Equal(KeyGroupLimitAction.Close, options.Limits.KeyGroupLimitAction);

        NamespaceOptions price = options.Namespaces["price"];
        Assert.Equal(MessageFormat.Inline, price.Format);
        Assert.Equal(TimeSpan.FromMilliseconds(500), price.ConflationInterval);
        Assert.True(price.Snapshot);
        Assert.Equal(MessageFormat.Inline, options.Namespaces["trades"].Format);
        Assert.Equal(1000, options.Namespaces["trades"].History.Size);
        Assert.Equal(MessageFormat.Inline, options.Namespaces["funding"].Format);
        Assert.True(options.Namespaces["funding"].Snapshot);
        Assert.Equal(TimeSpan.Zero, options.Namespaces["funding"].ConflationInterval);

        // Namespaces merge into the defaults: the ones the profile does not name keep theirs.
        Assert.Equal(AccessPolicy.Authenticated, options.Namespaces["intent"].Subscribe);
        Assert.Equal(AccessPolicy.Owner, options.Namespaces["user"].Subscribe);
        Assert.Equal(FastWsOptions.AddressPattern, options.Namespaces["user"].KeyPattern);
        Assert.Equal(TimeSpan.Zero, options.Namespaces["bench"].Retention);
        Assert.Equal(MessageFormat.Envelope, options.Namespaces["bench"].Format);
    }

    [Fact]
    public async Task MarketData_serves_a_seed_client_on_the_root_path_with_a_price_snapshot_and_typed_events()
    {
        await using ProfileServer server = await ProfileServer.StartAsync("MarketData");
        Assert.Equal("/", server.Server.WebSocketUri.AbsolutePath);

        // Published before anyone subscribes: price channels keep their latest message for the snapshot.
        await server.Server.Events.PublishPriceAsync("SOL", 1.5, 1.51, 1.49, 1732252800123);
        await TestServer.WaitUntilAsync(
            () => server.Server.State.Channels.TryGet("price:SOL", out var channel) && channel.Position.Seq == 1, "price:SOL numbered its first message");

        await using TestClient client = await TestClient.ConnectAsync(server.Server.WebSocketUri);
        await client.SendAsync("""{"type":"subscribe","slabAddress":"SOL"}""");
        Acks.AssertSubscribed(await client.ReceiveAsync(), ["price:SOL", "trades:SOL", "funding:SOL"]);

        JsonElement snapshot = await client.ReceiveTypeAsync("price");
        Assert.Equal("SOL", snapshot.GetProperty("slab").GetString());
        Assert.Equal(1.5, snapshot.GetProperty("price").GetDouble());
        Assert.Equal(1.51, snapshot.GetProperty("markPrice").GetDouble());
        Assert.Equal(1.49, snapshot.GetProperty("indexPrice").GetDouble());
        Assert.Equal(1732252800123, snapshot.GetProperty("timestamp").GetInt64());
        Assert.Equal("price:SOL", snapshot.GetProperty("channel").GetString());
        Assert.Equal(1, snapshot.GetProperty("seq").GetInt64());
        Assert.True(snapshot.GetProperty("snapshot").GetBoolean());

        await server.Server.Events.PublishTradeAsync("SOL", Publishing.TradeSide.Buy, 2.5, 150.1, 1732252800124);
        Assert.Equal(
            """{"type":"trade","slab":"SOL","side":"buy","size":2.5,"price":150.1,"timestamp":1732252800124,"channel":"trades:SOL","seq":1}""",
            await client.ReceiveAsync());
    }

    [Fact]
    public void IntentsBackend_does_not_start_without_a_token_key()
    {
        Microsoft.Extensions.Options.OptionsValidationException refused = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            FastWsServer.Create(["--environment", "IntentsBackend", "--FastWs:WebSocket:Port=0", "--FastWs:Http:Port=0", "--FastWs:WarmUp=false"]));
        Assert.Contains("FastWs:Auth:Required", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IntentsBackend_binds_the_intents_backends_rules_and_limits()
    {
        await using ProfileServer server = await ProfileServer.StartAsync("IntentsBackend", $"--FastWs:Auth:Jwt:HmacSecret={TokenFactory.Secret}");
        FastWsOptions options = server.Options;

        Assert.Equal("IntentsBackend", server.Server.Services.GetRequiredService<IHostEnvironment>().EnvironmentName);
        Assert.Equal("/ws", options.Path);
        Assert.True(options.Auth.Required);
        Assert.Equal("sub", options.Auth.Jwt.UserClaim);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Heartbeat.PingInterval);
        Assert.Equal(50, options.Limits.MaxSubscriptionsPerConnection);
        Assert.Equal(20, options.Limits.SubscriptionQuotas["intent"]);
        Assert.Equal(10, options.Limits.SubscriptionQuotas["user_solver"]);
        Assert.Equal(60, options.Limits.MaxMessagesPerWindow);
        Assert.Equal(TimeSpan.FromMinutes(1), options.Limits.MessageWindow);

        Assert.Equal(AccessPolicy.Anyone, options.Namespaces["market_data"].Subscribe);
        Assert.Equal(AccessPolicy.Anyone, options.Namespaces["system_alerts"].Subscribe);
        Assert.Equal(AccessPolicy.Authenticated, options.Namespaces["intent"].Subscribe);
        Assert.Equal("intent", options.Namespaces["intent"].Quota);
        foreach (string owned in new[] { "user", "solver" })
        {
            Assert.Equal(AccessPolicy.Owner, options.Namespaces[owned].Subscribe);
            Assert.Equal(FastWsOptions.AddressPattern, options.Namespaces[owned].KeyPattern);
            Assert.Equal("user_solver", options.Namespaces[owned].Quota);
            Assert.Equal(MessageFormat.Inline, options.Namespaces[owned].Format);
        }

        Assert.All(options.Namespaces.Values, settings => Assert.Equal(AccessPolicy.Loopback, settings.Publish));
    }

    [Fact]
    public async Task IntentsBackend_takes_a_token_on_connect_and_applies_the_owner_rule()
    {
        using var tokens = new TokenFactory();
        await using ProfileServer server = await ProfileServer.StartAsync("IntentsBackend", $"--FastWs:Auth:Jwt:HmacSecret={TokenFactory.Secret}");
        Uri uri = new UriBuilder(server.Server.WebSocketUri) { Query = "token=" + tokens.Create(TokenFactory.Alice) }.Uri;

        await using TestClient alice = await TestClient.ConnectAsync(uri);
        await alice.SendAsync($$"""{"type":"subscribe","channels":["market_data","intent:abc-123","user:{{TokenFactory.Alice}}","user:{{TokenFactory.Bob}}"]}""");
        JsonElement refused = await alice.ReceiveTypeAsync("error");
        Assert.Equal("forbidden", refused.GetProperty("code").GetString());
        Assert.Equal($"user:{TokenFactory.Bob}", refused.GetProperty("channel").GetString());
        Acks.AssertSubscribed(await alice.ReceiveAsync(), ["market_data", "intent:abc-123", $"user:{TokenFactory.Alice}"]);

        await server.Server.Events.SendToUserAsync(TokenFactory.Alice, """{"type":"fill","size":1}"""u8);
        JsonElement direct = await alice.ReceiveTypeAsync("fill");
        Assert.Equal($"user:{TokenFactory.Alice}", direct.GetProperty("channel").GetString());
    }

    /// <summary>
    /// Walks a configuration section against an options object bound from it, the way the binder maps keys (property
    /// names in any case, dictionary keys, list indexes): every key must name a setting, every value must convert,
    /// and the bound object must hold the converted value (the binder silently drops a whole dictionary entry, such as
    /// a namespace, when one of its values does not convert).
    /// </summary>
    private static void CheckObject(IConfigurationSection section, Type type, object? bound, List<string> problems, bool compare = true)
    {
        foreach (IConfigurationSection child in section.GetChildren())
        {
            PropertyInfo? property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || property.GetMethod is not { IsPublic: true })
            {
                problems.Add($"{child.Path}: {type.Name} has no setting '{child.Key}'");
                continue;
            }

            Check(child, property.PropertyType, bound is null ? null : property.GetValue(bound), problems, compare);
        }
    }

    private static void Check(IConfigurationSection section, Type type, object? bound, List<string> problems, bool compare)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>) && type.GetGenericArguments()[0] == typeof(string))
        {
            var dictionary = (System.Collections.IDictionary?)bound;
            foreach (IConfigurationSection entry in section.GetChildren())
            {
                if (compare && dictionary is not null && !dictionary.Contains(entry.Key))
                {
                    problems.Add($"{entry.Path}: the entry was not bound");
                }

                Check(entry, type.GetGenericArguments()[1], dictionary?[entry.Key], problems, compare);
            }
        }
        else if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var list = (System.Collections.IList?)bound;
            foreach (IConfigurationSection entry in section.GetChildren())
            {
                if (!int.TryParse(entry.Key, out int index))
                {
                    problems.Add($"{entry.Path}: list entries are numbered (:0, :1, ...)");
                    continue;
                }

                Check(entry, type.GetGenericArguments()[0], list is not null && index < list.Count ? list[index] : null, problems, compare);
            }
        }
        else if (section.Value is { } value)
        {
            object? converted;
            try
            {
                converted = TypeDescriptor.GetConverter(Nullable.GetUnderlyingType(type) ?? type).ConvertFromInvariantString(value);
            }
            catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                problems.Add($"{section.Path}: '{value}' is not a {type.Name}: {ex.Message}");
                return;
            }

            if (compare && !Equals(converted, bound))
            {
                problems.Add($"{section.Path}: '{value}' was bound as '{bound}'");
            }
        }
        else
        {
            CheckObject(section, type, bound, problems, compare);
        }
    }

    /// <summary>
    /// A real server started with <c>--environment NAME</c>, nothing else changed but the ports (free ones), the warm-up
    /// and the idle trim (both off, as in every test): <see cref="TestServer"/> switches limits and market-data defaults
    /// off, which would hide what the profile set.
    /// </summary>
    private sealed class ProfileServer : IAsyncDisposable
    {
        private ProfileServer(FastWsServer server)
        {
            Server = server;
        }

        public FastWsServer Server { get; }

        public FastWsOptions Options => Server.State.Options;

        public static async Task<ProfileServer> StartAsync(string environment, params string[] args)
        {
            using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
            FastWsServer server = await FastWsServer.StartAsync(
                ["--environment", environment, "--Logging:LogLevel:Default=Warning", .. args],
                options =>
                {
                    options.WebSocket.Port = 0;
                    options.Http.Port = 0;
                    options.WarmUp = false;
                    options.Memory.TrimAfterIdle = TimeSpan.Zero;
                },
                timeout.Token);
            return new ProfileServer(server);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                using var timeout = new CancellationTokenSource(TestServer.DefaultTimeout);
                await Server.StopAsync(timeout.Token);
            }
            finally
            {
                await Server.DisposeAsync().AsTask().WaitAsync(TestServer.DefaultTimeout);
            }
        }
    }
}
