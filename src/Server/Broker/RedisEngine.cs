using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using FastWs.Server.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FastWs.Server.Broker;

/// <summary>
/// The Redis engine: publishing is one Lua script per message (<see cref="RedisScripts"/>), a followed channel is one
/// pub/sub subscription, reading is one script. The hot paths share one connection of FastWs's own: pub/sub comes in on
/// it (<see cref="RedisPubSub"/>) and, with one standalone Redis, publishes are written on it by the publishing thread
/// (<see cref="RedisPublisher"/>) and their replies read with the pushes: one wake-up per read instead of
/// StackExchange.Redis's thread hops.
/// Publishes are pipelined: the publishes of one read or one HTTP batch go out one after the other without waiting
/// for each other's answers. Reading history and upkeep go through StackExchange.Redis.
/// </summary>
/// <remarks>
/// While Redis is unreachable commands fail at once (<see cref="BacklogPolicy.FailFast"/>) instead of queueing in
/// the client without bound; the client reconnects with exponential backoff and re-subscribes by itself.
/// </remarks>
internal sealed class RedisEngine : IBrokerEngine
{
    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly RedisPubSub _pubsub;
    private readonly string _prefix;
    private readonly string _epochPrefix;
    private readonly long _minTtlMs;
    private readonly int _maxQueuedPerChannel;
    private long _shed;

    private RedisEngine(ConnectionMultiplexer redis, ConfigurationOptions config, RedisBrokerOptions options, int maxQueuedPerChannel, ILogger? logger)
    {
        _maxQueuedPerChannel = maxQueuedPerChannel;
        _redis = redis;
        _db = redis.GetDatabase();
        // One standalone primary: publishes ride on the pub/sub connection (RESP3). Otherwise they need
        // StackExchange.Redis's routing, and pub/sub has the connection to itself (RESP2).
        _pubsub = new RedisPubSub(config, () => BatchEnded?.Invoke(), IsOneStandalonePrimary(redis, config) ? RedisScripts.Publish : null, logger);
        _pubsub.Disconnected += () => Disconnected?.Invoke();
        _pubsub.Reconnected += () => Reconnected?.Invoke();
        _prefix = options.Prefix;
        _minTtlMs = (long)options.MinStateTtl.TotalMilliseconds;
        Span<byte> random = stackalloc byte[4];
        RandomNumberGenerator.Fill(random);
        _epochPrefix = Convert.ToHexStringLower(random);
        // Either connection (commands, or pub/sub where it has one of its own): a catch-up after each restore is
        // harmless (it is serialized per channel and drops duplicates), a missed one would leave a channel behind.
        redis.ConnectionFailed += (_, _) => Disconnected?.Invoke();
        redis.ConnectionRestored += (_, _) => Reconnected?.Invoke();
    }

    /// <summary>Connects (or keeps trying in the background when Redis is not there yet: the node starts anyway, not ready).</summary>
    public static RedisEngine Connect(BrokerOptions broker, ILogger? logger = null)
    {
        RedisBrokerOptions options = broker.Redis;
        ConfigurationOptions config = ConfigurationOptions.Parse(options.Configuration);
        config.AbortOnConnectFail = false;
        config.BacklogPolicy = BacklogPolicy.FailFast;
        config.ReconnectRetryPolicy ??= new ExponentialRetry(250, 10_000);
        config.ClientName ??= "fastws-" + Environment.MachineName;
        config.ConnectTimeout = Math.Min(config.ConnectTimeout, 5_000);
        var engine = new RedisEngine(ConnectionMultiplexer.Connect(config.Clone()), config, options, broker.MaxQueuedPerChannel, logger);
        engine._pubsub.WaitConnected(TimeSpan.FromMilliseconds(config.ConnectTimeout));
        return engine;
    }

    public bool IsConnected => _redis.IsConnected && _pubsub.IsConnected;

    /// <summary>
    /// Publishes go on FastWs's own connection (<see cref="RedisPublisher"/> on <see cref="RedisPubSub"/>) when the configuration names one Redis and
    /// it is a standalone primary (or could not be asked yet). Redis Cluster (keys live on the node owning their slot)
    /// and lists of primaries and replicas need StackExchange.Redis's routing, so there publishes stay with it.
    /// </summary>
    private static bool IsOneStandalonePrimary(ConnectionMultiplexer redis, ConfigurationOptions config)
    {
        if (config.EndPoints.Count != 1)
        {
            return false;
        }

        IServer[] servers = redis.GetServers();
        return servers.Length == 1 && (!servers[0].IsConnected || (servers[0].ServerType == ServerType.Standalone && !servers[0].IsReplica));
    }

    public event Action? BatchEnded;

    public long MessagesShed => Volatile.Read(ref _shed);

    public event Action? Reconnected;

    public event Action? Disconnected;

    public Task PublishAsync(string channel, NamespaceOptions settings, ReadOnlyMemory<byte> data) =>
        _pubsub.Publisher is { } own
            ? own.EvaluateAsync(MetaKey(channel), HistoryKey(channel), _prefix + ":" + channel, data.Span, _epochPrefix, HistorySize(settings), TtlMs(settings))
            : _db.ScriptEvaluateAsync(RedisScripts.Publish, [MetaKey(channel), HistoryKey(channel)],
                [_prefix + ":" + channel, data, _epochPrefix, HistorySize(settings), TtlMs(settings)]);

    public async Task<IAsyncDisposable> SubscribeAsync(string channel, Func<BrokerMessage, Task> onMessage)
    {
        string lastEpoch = string.Empty;
        int waiting = 0;
        RedisPubSub.Subscription subscription = await _pubsub.SubscribeAsync(_prefix + ":" + channel, (payload, moreWaiting) =>
        {
            // Runs on the pub/sub thread. A message the follower cannot take at once (see ChannelFollower.ReceiveAsync)
            // waits in a task; this bounds how many of a channel's wait. Shed messages become a hole that the next
            // one shows, refilled from the channel's Redis stream (or announced).
            if (Volatile.Read(ref waiting) >= _maxQueuedPerChannel)
            {
                Interlocked.Increment(ref _shed);
                return;
            }

            if (!TryParse(payload.Span, ref lastEpoch, out long seq, out int dataStart))
            {
                return; // not ours: another program on the same prefix
            }

            Task handled = onMessage(new BrokerMessage(lastEpoch, seq, payload[dataStart..], MoreWaiting: moreWaiting));
            if (!handled.IsCompleted)
            {
                Interlocked.Increment(ref waiting);
                handled.ContinueWith(_ => Interlocked.Decrement(ref waiting), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }).ConfigureAwait(false);
        return new Subscription(subscription);
    }

    /// <summary>One followed channel's pub/sub subscription; disposing it ends that subscription alone.</summary>
    private sealed class Subscription(RedisPubSub.Subscription subscription) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            subscription.Unsubscribe();
            return ValueTask.CompletedTask;
        }
    }

    public async Task<BrokerStream> ReadAsync(string channel, NamespaceOptions settings, long afterSeq, int count)
    {
        RedisResult result = await _db.ScriptEvaluateAsync(RedisScripts.Read, [MetaKey(channel), HistoryKey(channel)],
            [_epochPrefix, afterSeq, count, TtlMs(settings)]).ConfigureAwait(false);
        RedisResult[] parts = (RedisResult[])result!;
        string epoch = (string)parts[0]!;
        long seq = (long)parts[1];
        long now = long.Parse((string)parts[2]!, System.Globalization.CultureInfo.InvariantCulture);
        RedisResult[] entries = (RedisResult[])parts[3]!;
        var messages = new List<BrokerMessage>(entries.Length);
        foreach (RedisResult entry in entries)
        {
            RedisResult[] pair = (RedisResult[])entry!;
            string id = (string)pair[0]!;
            long entrySeq = long.Parse(id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)), System.Globalization.CultureInfo.InvariantCulture);
            RedisResult[] fields = (RedisResult[])pair[1]!;
            long at = 0;
            byte[]? data = null;
            for (int i = 0; i + 1 < fields.Length; i += 2)
            {
                string name = (string)fields[i]!;
                if (name == "t")
                {
                    at = long.Parse((string)fields[i + 1]!, System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (name == "d")
                {
                    data = (byte[])fields[i + 1]!;
                }
            }

            if (data is not null)
            {
                messages.Add(new BrokerMessage(epoch, entrySeq, data, at));
            }
        }

        if (afterSeq < 0)
        {
            messages.Reverse(); // XREVRANGE gave the newest first
        }

        return new BrokerStream(epoch, seq, now, messages);
    }

    public void Renew(string channel, NamespaceOptions settings)
    {
        long ttl = TtlMs(settings);
        _db.KeyExpire(MetaKey(channel), TimeSpan.FromMilliseconds(ttl), CommandFlags.FireAndForget);
        if (HistorySize(settings) > 0)
        {
            _db.KeyExpire(HistoryKey(channel), TimeSpan.FromMilliseconds(ttl), CommandFlags.FireAndForget);
        }
    }

    public Task<TimeSpan> PingAsync()
    {
        try
        {
            _pubsub.Ping();
        }
#pragma warning disable CA1031 // A failed write: the pub/sub thread reconnects, and the events report it.
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        return _db.PingAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _pubsub.Dispose();
        await _redis.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        _redis.Dispose();
    }

    private string MetaKey(string channel) => _prefix + ":{" + channel + "}:m";

    private string HistoryKey(string channel) => _prefix + ":{" + channel + "}:h";

    /// <summary>Messages Redis keeps per channel: the history, or the latest alone for a snapshot.</summary>
    internal static int HistorySize(NamespaceOptions settings) => Math.Max(settings.History.Size, settings.Snapshot ? 1 : 0);

    private long TtlMs(NamespaceOptions settings)
    {
        long ttl = Math.Max(_minTtlMs, (long)settings.Retention.TotalMilliseconds);
        return HistorySize(settings) > 0 && settings.History.MaxAge > TimeSpan.Zero
            ? Math.Max(ttl, (long)settings.History.MaxAge.TotalMilliseconds)
            : ttl;
    }

    /// <summary>Parses <c>epoch:seq:</c>; reuses <paramref name="epoch"/> while it is unchanged (no string per message).</summary>
    private static bool TryParse(ReadOnlySpan<byte> payload, ref string epoch, out long seq, out int dataStart)
    {
        seq = 0;
        dataStart = 0;
        int colon = payload.IndexOf((byte)':');
        if (colon <= 0 || colon > 64)
        {
            return false;
        }

        ReadOnlySpan<byte> epochBytes = payload[..colon];
        ReadOnlySpan<byte> rest = payload[(colon + 1)..];
        int second = rest.IndexOf((byte)':');
        if (second <= 0 || !Utf8Parser.TryParse(rest[..second], out seq, out int consumed) || consumed != second || seq <= 0)
        {
            return false;
        }

        if (!SameAscii(epochBytes, epoch))
        {
            epoch = Encoding.ASCII.GetString(epochBytes);
        }

        dataStart = colon + 1 + second + 1;
        return true;
    }

    private static bool SameAscii(ReadOnlySpan<byte> bytes, string text)
    {
        if (bytes.Length != text.Length)
        {
            return false;
        }

        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != text[i])
            {
                return false;
            }
        }

        return true;
    }
}
