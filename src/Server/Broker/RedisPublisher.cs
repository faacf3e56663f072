using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace FastWs.Server.Broker;

/// <summary>
/// The publishing half of the Redis engine, on the node's one RESP3 connection (<see cref="RedisPubSub"/>): each
/// publish is written by the thread that publishes (one <c>send</c> of one <c>EVALSHA</c>), and its reply is read by
/// the connection's reader with the pushed messages and matched, in order, to the publishes waiting for them.
/// </summary>
/// <remarks>
/// <para>
/// Why on the pub/sub connection: Redis answers a publish on the node that made it with the reply and, when that node
/// follows the channel, the message itself; on one connection both come in one write and one read, where a second
/// connection cost a thread's wake-up per publish (4 % of the publishing node's CPU under perf/compare's (a)) and
/// Redis one more write. Why not StackExchange.Redis, which does the rest: a publish through it is a write into its
/// pipe, a thread-pool hop to the pipe's sender, and on the way back its socket reader, a thread-pool parser and the
/// task's continuation: about 130 µs of CPU per publish on this project's test machine.
/// </para>
/// <para>
/// Order: the command is written and its waiter queued under the connection's write lock, so replies (which Redis
/// sends in command order) meet their waiters. The script is loaded once per connection (<c>SCRIPT LOAD</c>, before
/// the connection counts as up); a <c>NOSCRIPT</c> reply (someone flushed the script cache) fails that publish and
/// the connection is made again, which loads it again: a publish is never sent twice, so a channel's order is never
/// changed by a retry.
/// </para>
/// <para>
/// Faults: a write that fails or blocks longer than the send timeout, a reply that does not come within the
/// configuration's <c>asyncTimeout</c>, or a lost connection fail every publish waiting (the caller answers
/// <c>unavailable</c>), and the connection's thread reconnects with exponential backoff. While it is down, publishes
/// fail at once.
/// </para>
/// </remarks>
internal sealed class RedisPublisher : IDisposable
{
    private readonly string _script;
    private readonly byte[] _scriptSha;
    private readonly ConcurrentQueue<Waiter> _waiting = new();
    private readonly Timer _watchdog;
    private readonly long _replyTimeoutTicks;
    private readonly Action _closeConnection;

    // The connection's, set while it is up (under its write lock).
    private Lock? _writeLock;
    private Stream? _stream;
    private volatile bool _connected;

    /// <summary>A publish waiting for its reply; <see cref="Done"/> null for a command whose reply nobody waits for (PING).</summary>
    private readonly record struct Waiter(TaskCompletionSource? Done, long SentAt);

    /// <param name="closeConnection">Ends the connection (its reader then fails what waits and reconnects).</param>
    public RedisPublisher(ConfigurationOptions config, string script, Action closeConnection)
    {
        _script = script;
        _scriptSha = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(script))));
        _replyTimeoutTicks = Stopwatch.Frequency * Math.Max(1_000, config.AsyncTimeout) / 1_000;
        _closeConnection = closeConnection;
        _watchdog = new Timer(static p => ((RedisPublisher)p!).CheckReplies(), this, 1_000, 1_000);
    }

    public bool IsConnected => _connected;

    /// <summary>On a new connection, before anything else is written to it: loads the script (and checks its digest).</summary>
    internal void LoadScript(Stream stream)
    {
        string sha = RedisWire.Request(stream, ["SCRIPT", "LOAD", _script]);
        if (!Encoding.ASCII.GetBytes(sha).AsSpan().SequenceEqual(_scriptSha))
        {
            throw Down("Redis could not load the publish script: " + sha);
        }
    }

    /// <summary>The connection is up (its subscriptions made): publishes go on <paramref name="stream"/>, under <paramref name="writeLock"/>.</summary>
    internal void Connected(Stream stream, Lock writeLock)
    {
        lock (writeLock)
        {
            _writeLock = writeLock;
            _stream = stream;
            _connected = true;
        }
    }

    /// <summary>The connection is gone: every publish waiting fails, and new ones fail at once until the next.</summary>
    internal void Lost()
    {
        if (_writeLock is { } writeLock)
        {
            lock (writeLock)
            {
                _connected = false;
                _stream = null;
            }
        }

        FailWaiting();
    }

    /// <summary>
    /// A reply (not a push) read on the connection: completes the oldest waiter. False when the connection must be
    /// made again (a reply nobody waited for, or <c>NOSCRIPT</c>).
    /// </summary>
    internal bool OnReply(in RespPush reply, ReadOnlySpan<byte> text)
    {
        if (!_waiting.TryDequeue(out Waiter waiter))
        {
            return false; // a reply that no command waited for
        }

        if (!reply.IsError)
        {
            waiter.Done?.TrySetResult();
            return true;
        }

        string message = Encoding.UTF8.GetString(text);
        waiter.Done?.TrySetException(new InvalidOperationException("Redis refused the publish: " + message));
        return !message.StartsWith("NOSCRIPT", StringComparison.Ordinal); // reconnect, which loads the script again
    }

    /// <summary>Writes a <c>PING</c> (its reply is matched and dropped): a write to a peer that went away fails.</summary>
    internal void Ping(byte[] ping)
    {
        Write(ping, ping.Length, done: null);
    }

    /// <summary>
    /// Runs the loaded script with two keys and the arguments (written now, on this thread); completes when Redis
    /// answered, or fails when it answered with an error or the connection failed first.
    /// </summary>
    public Task EvaluateAsync(string key1, string key2, string arg1, ReadOnlySpan<byte> arg2, string arg3, long arg4, long arg5)
    {
        // *10 EVALSHA sha 2 key1 key2 arg1..arg5
        int length = 64 + _scriptSha.Length + Size(key1) + Size(key2) + Size(arg1) + arg2.Length + Size(arg3) + 2 * 40;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int at = 0;
            Append(buffer, ref at, "*10\r\n$7\r\nEVALSHA\r\n"u8);
            Bulk(buffer, ref at, _scriptSha);
            Append(buffer, ref at, "$1\r\n2\r\n"u8);
            Bulk(buffer, ref at, key1);
            Bulk(buffer, ref at, key2);
            Bulk(buffer, ref at, arg1);
            Bulk(buffer, ref at, arg2);
            Bulk(buffer, ref at, arg3);
            Bulk(buffer, ref at, arg4);
            Bulk(buffer, ref at, arg5);

            // Completed on the connection's reader, which runs what waits for it (the publisher's ack: a non-blocking
            // write) right there instead of waking a thread-pool thread per publish.
            var done = new TaskCompletionSource();
            if (!Write(buffer, at, done))
            {
                return Task.FromException(Down("the connection to Redis is down"));
            }

            return done.Task;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        _watchdog.Dispose();
        FailWaiting();
    }

    /// <summary>Writes a command and queues its waiter, both under the connection's write lock. False while it is down.</summary>
    private bool Write(byte[] buffer, int length, TaskCompletionSource? done)
    {
        Lock? writeLock = _writeLock;
        if (writeLock is null)
        {
            return false;
        }

        lock (writeLock)
        {
            if (!_connected || _stream is not { } stream)
            {
                return false;
            }

            _waiting.Enqueue(new Waiter(done, Stopwatch.GetTimestamp()));
            try
            {
                stream.Write(buffer, 0, length);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
            {
                // What went out of this command is unknown: the connection is done (its waiters, this one
                // included, fail as the reader sees it close).
                _connected = false;
                _closeConnection();
            }
        }

        return true;
    }

    /// <summary>Once a second: a reply overdue by the configuration's <c>asyncTimeout</c> ends the connection.</summary>
    private void CheckReplies()
    {
        if (_waiting.TryPeek(out Waiter oldest) && Stopwatch.GetTimestamp() - oldest.SentAt > _replyTimeoutTicks)
        {
            _closeConnection();
        }
    }

    private void FailWaiting()
    {
        while (_waiting.TryDequeue(out Waiter waiter))
        {
            waiter.Done?.TrySetException(Down("the connection to Redis was lost"));
        }
    }

    private static RedisConnectionException Down(string message) =>
        new(ConnectionFailureType.SocketFailure, CommandFlags.None, message);

    // ---- RESP encoding into the command buffer ----

    private static int Size(string text) => Encoding.UTF8.GetMaxByteCount(text.Length) + 16;

    private static void Append(byte[] buffer, ref int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(buffer.AsSpan(at));
        at += bytes.Length;
    }

    private static void Bulk(byte[] buffer, ref int at, ReadOnlySpan<byte> bytes)
    {
        buffer[at++] = (byte)'$';
        Utf8Formatter.TryFormat(bytes.Length, buffer.AsSpan(at), out int written);
        at += written;
        Append(buffer, ref at, "\r\n"u8);
        Append(buffer, ref at, bytes);
        Append(buffer, ref at, "\r\n"u8);
    }

    private static void Bulk(byte[] buffer, ref int at, string text)
    {
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = null;
        Span<byte> bytes = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        int length = Encoding.UTF8.GetBytes(text, bytes);
        Bulk(buffer, ref at, bytes[..length]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void Bulk(byte[] buffer, ref int at, long number)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(number, digits, out int written);
        Bulk(buffer, ref at, digits[..written]);
    }
}
