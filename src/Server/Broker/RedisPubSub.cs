using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FastWs.Server.Broker;

/// <summary>
/// The node's connection to Redis for the hot paths: one connection of FastWs's own, read by one thread of its own,
/// which parses each pushed message and hands it to its channel's follower right there. The cross-node hot path
/// is then one wake-up per read, as a publisher's read is on a single node. With a publish script it also carries
/// the node's publishes (<see cref="Publisher"/>): the connection speaks RESP3, where a subscribed connection takes any
/// command, and the reader matches each reply to its publish between the pushes.
/// </summary>
/// <remarks>
/// <para>
/// Why not StackExchange.Redis, which does everything else (publishing, reading history, upkeep): its pub/sub
/// hands every message from the socket's completion to a thread-pool reader, then to a thread-pool queue or worker
/// per subscription: two or three thread hops per message per node before the fan-out, each a wake-up on a busy
/// core. What is needed here is small and fixed: connect (TLS, AUTH and the client name from the same
/// configuration string), SUBSCRIBE / UNSUBSCRIBE, and parse RESP2 push frames (RESP3 with publishes).
/// </para>
/// <para>
/// A message's data is only valid during the handler's call (it lies in the read buffer): the handler copies what it
/// keeps. After each read's messages the batch-end callback runs once, so a burst read at once goes to each
/// subscriber in one write. Lost connection: every subscription waiting for its confirmation fails, <see cref="Disconnected"/>
/// fires, and the thread reconnects with exponential backoff (250 ms to 10 s), subscribes again to every channel it
/// had and fires <see cref="Reconnected"/>.
/// </para>
/// </remarks>
internal sealed class RedisPubSub : IDisposable
{
    /// <summary>A pushed message: the channel's data, valid only during the call; <paramref name="moreWaiting"/> when more bytes of this read follow.</summary>
    public delegate void Handler(ReadOnlyMemory<byte> data, bool moreWaiting);

    private const int InitialBuffer = 64 * 1024;
    private const int MaxFrame = 512 * 1024 * 1024; // Redis's own limit for a bulk string

    private readonly ConfigurationOptions _config;
    private readonly Action _batchEnded;
    private readonly ConcurrentDictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Subscription>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly Lock _writeLock = new();
    private readonly ManualResetEventSlim _stopped = new();
    private readonly Thread _thread;
    private Socket? _socket;
    private Stream? _stream;
    private volatile bool _connected;
    private volatile bool _disposed;
    private readonly ManualResetEventSlim _firstConnected = new();
    private readonly ILogger _logger;
    private readonly string _endpoint;
    private bool _lostOrFailed;

    private static readonly byte[] PingCommand = RedisWire.Encode(["PING"]);

    /// <param name="publishScript">
    /// The publish script, when this connection is to carry the node's publishes too (a standalone primary: see
    /// <see cref="RedisEngine"/>); null for pub/sub alone (RESP2).
    /// </param>
    /// <param name="logger">Where the connection's state changes go (<see cref="BrokerLog"/>).</param>
    public RedisPubSub(ConfigurationOptions config, Action batchEnded, string? publishScript = null, ILogger? logger = null)
    {
        if (config.EndPoints.Count == 0)
        {
            throw new ArgumentException("the Redis configuration names no endpoint", nameof(config));
        }

        _config = config;
        _batchEnded = batchEnded;
        Publisher = publishScript is null ? null : new RedisPublisher(config, publishScript, Close);
        _logger = logger ?? NullLogger.Instance;
        _endpoint = EndPointCollection.ToString(config.EndPoints[0]);
        _bySpan = _subscriptions.GetAlternateLookup<ReadOnlySpan<char>>();
        _thread = new Thread(Run) { IsBackground = true, Name = "fastws-redis-pubsub" };
        _thread.Start();
    }

    public bool IsConnected => _connected;

    /// <summary>The node's publishes on this connection, or null when it carries pub/sub alone.</summary>
    public RedisPublisher? Publisher { get; }

    /// <summary>Waits up to <paramref name="timeout"/> for the first connection (the node starts either way, not ready without it).</summary>
    public bool WaitConnected(TimeSpan timeout) => _firstConnected.Wait(timeout);

    /// <summary>Raised (on the thread pool) when the connection came back after a loss and every channel was subscribed again.</summary>
    public event Action? Reconnected;

    /// <summary>Raised (on the thread pool) when the connection is lost.</summary>
    public event Action? Disconnected;

    /// <summary>One channel's subscription; the newest for a channel replaces any before it.</summary>
    public sealed class Subscription(RedisPubSub owner, string channel, Handler handler)
    {
        internal readonly TaskCompletionSource Confirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal string Channel { get; } = channel;

        internal Handler Handler { get; } = handler;

        /// <summary>Ends this subscription (a newer one for the same channel stays).</summary>
        public void Unsubscribe() => owner.Unsubscribe(this);
    }

    /// <summary>
    /// Subscribes to <paramref name="channel"/>; completes when Redis confirmed it, so whatever is published after
    /// that reaches <paramref name="handler"/>. Fails at once while disconnected, or when the connection is lost first.
    /// </summary>
    public async Task<Subscription> SubscribeAsync(string channel, Handler handler)
    {
        var subscription = new Subscription(this, channel, handler);
        if (!_connected)
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, "the pub/sub connection to Redis is down");
        }

        _subscriptions[channel] = subscription;
        try
        {
            Send("SUBSCRIBE", channel);
            await subscription.Confirmed.Task.ConfigureAwait(false);
            return subscription;
        }
        catch
        {
            // Not confirmed: it must not stay behind to be subscribed again after a reconnect.
            _subscriptions.TryRemove(new KeyValuePair<string, Subscription>(channel, subscription));
            throw;
        }
    }

    /// <summary>Checks the connection: a write to a peer that went away fails and the thread reconnects.</summary>
    public void Ping()
    {
        if (!_connected)
        {
            return;
        }

        if (Publisher is { } publisher)
        {
            publisher.Ping(PingCommand); // RESP3: PING's reply is a reply, matched in order like a publish's
        }
        else
        {
            Send("PING", null);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _stopped.Set();
        Close();
        _thread.Join(TimeSpan.FromSeconds(5));
        Publisher?.Dispose();
    }

    private void Unsubscribe(Subscription subscription)
    {
        if (_subscriptions.TryRemove(new KeyValuePair<string, Subscription>(subscription.Channel, subscription)) && _connected)
        {
            Send("UNSUBSCRIBE", subscription.Channel);
        }
    }

    // ---- the thread: connect, subscribe, read; reconnect with backoff ----

    private void Run()
    {
        int backoffMs = 250;
        while (!_disposed)
        {
            string reason;
            try
            {
                Connect();
                backoffMs = 250;
                foreach (string channel in _subscriptions.Keys)
                {
                    Send("SUBSCRIBE", channel);
                }

                Publisher?.Connected(_stream!, _writeLock);
                _connected = true;
                _firstConnected.Set();
                BrokerLog.Connected(_logger, _endpoint, Publisher is null ? "pub/sub (RESP2)" : "pub/sub and publishes (RESP3)");
                if (_lostOrFailed)
                {
                    Raise(Reconnected);
                }

                reason = ReadLoop();
            }
#pragma warning disable CA1031 // Any failure ends this connection; the loop makes the next one.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                reason = ex.Message;
            }

            bool wasConnected = _connected;
            _connected = false;
            _lostOrFailed = true;
            Close();
            Publisher?.Lost();
            foreach (Subscription subscription in _subscriptions.Values)
            {
                subscription.Confirmed.TrySetException(new RedisConnectionException(ConnectionFailureType.SocketClosed, CommandFlags.None, "the pub/sub connection to Redis was lost"));
            }

            if (wasConnected)
            {
                Raise(Disconnected);
            }

            if (!_disposed)
            {
                BrokerLog.ConnectionFailed(_logger, _endpoint, reason, backoffMs);
            }

            if (_stopped.Wait(backoffMs))
            {
                return;
            }

            backoffMs = Math.Min(backoffMs * 2, 10_000);
        }
    }

    private static void Raise(Action? handler)
    {
        if (handler is not null)
        {
            ThreadPool.QueueUserWorkItem(static h => h(), handler, preferLocal: false);
        }
    }

    private void Connect()
    {
        (Socket socket, Stream stream) = RedisWire.Open(_config, "pubsub");
        if (Publisher is { } publisher)
        {
            try
            {
                RedisWire.Hello3(stream);
                publisher.LoadScript(stream);
            }
            catch
            {
                stream.Dispose();
                socket.Dispose();
                throw;
            }
        }

        lock (_writeLock)
        {
            _socket = socket;
            _stream = stream;
        }
    }

    /// <summary>Reads until the connection ends; returns why, when it was not an exception.</summary>
    private string ReadLoop()
    {
        byte[] buffer = new byte[InitialBuffer];
        int start = 0, end = 0;
        Stream stream = _stream!;
        while (!_disposed)
        {
            if (!RedisWire.Fill(stream, ref buffer, ref start, ref end))
            {
                return "closed by Redis";
            }
            bool delivered = false;
            while (RespPush.TryRead(buffer.AsSpan(start, end - start), out RespPush push))
            {
                int frameStart = start;
                start += push.Length;
                if (Publisher is { } publisher && !push.IsPush)
                {
                    // RESP3: a command's reply between the pushes (a publish's, in the order they were written).
                    if (!publisher.OnReply(push, push.Slice(buffer, frameStart, push.Kind)))
                    {
                        if (delivered)
                        {
                            _batchEnded();
                        }

                        return "a NOSCRIPT reply, or a reply no command waited for: made again";
                    }

                    continue;
                }

                if (push.IsError)
                {
                    throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "Redis: " + Encoding.UTF8.GetString(push.Slice(buffer, frameStart, push.Kind)));
                }

                ReadOnlySpan<byte> kind = push.Slice(buffer, frameStart, push.Kind);
                if (kind.SequenceEqual("message"u8))
                {
                    Deliver(push.Slice(buffer, frameStart, push.Channel), buffer.AsMemory(frameStart + push.Payload.Start.Value, push.Payload.End.Value - push.Payload.Start.Value), start < end);
                    delivered = true;
                }
                else if (kind.SequenceEqual("subscribe"u8) && Lookup(push.Slice(buffer, frameStart, push.Channel)) is { } subscription)
                {
                    subscription.Confirmed.TrySetResult();
                }
            }

            if (delivered)
            {
                _batchEnded();
            }

            if (start == end)
            {
                start = end = 0;
            }
            else if (end - start > MaxFrame)
            {
                throw new RedisConnectionException(ConnectionFailureType.ProtocolFailure, CommandFlags.None, "a frame from Redis over 512 MiB");
            }
        }

        return "stopped";
    }

    private void Deliver(ReadOnlySpan<byte> channel, ReadOnlyMemory<byte> data, bool moreWaiting)
    {
        if (Lookup(channel) is not { } subscription)
        {
            return; // unsubscribed meanwhile
        }

        try
        {
            subscription.Handler(data, moreWaiting);
        }
#pragma warning disable CA1031 // One channel's failure must not end the connection every channel depends on.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private Subscription? Lookup(ReadOnlySpan<byte> channel)
    {
        if (channel.Length > 1024)
        {
            return null;
        }

        Span<char> name = stackalloc char[channel.Length];
        int length = Encoding.UTF8.GetChars(channel, name);
        return _bySpan.TryGetValue(name[..length], out Subscription? subscription) ? subscription : null;
    }

    // ---- writing commands ----

    private void Send(string command, string? argument)
    {
        try
        {
            Write(RedisWire.Encode(argument is null ? [command] : [command, argument]));
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            Close(); // the reader sees it and reconnects
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "the pub/sub connection to Redis failed: " + ex.Message);
        }
    }

    private void Write(byte[] bytes)
    {
        lock (_writeLock)
        {
            Stream stream = _stream ?? throw new InvalidOperationException("not connected");
            stream.Write(bytes);
            stream.Flush();
        }
    }

    private void Close()
    {
        lock (_writeLock)
        {
            _stream?.Dispose();
            _socket?.Dispose();
            _stream = null;
            _socket = null;
        }
    }
}
