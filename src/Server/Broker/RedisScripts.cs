namespace FastWs.Server.Broker;

/// <summary>
/// The Lua scripts that make Redis the cluster's single numbering of each channel. Each runs atomically in Redis, so
/// the number, the history and the publish can never disagree between nodes (the idea of Centrifugo's Redis engine).
/// </summary>
/// <remarks>
/// Per channel <c>C</c>, under the prefix <c>P</c>: the hash <c>P:{C}:m</c> holds the epoch (<c>e</c>) and the last
/// <c>seq</c> (<c>s</c>); the stream <c>P:{C}:h</c> holds the kept messages with the id <c>seq-0</c> and the fields
/// <c>t</c> (Redis's clock, ms) and <c>d</c> (the data); messages go out on the pub/sub channel <c>P:C</c> as
/// <c>epoch:seq:data</c>. The braces keep a channel's two keys in one Redis Cluster slot. An epoch is made when a
/// channel has none (first publish or read, or its state expired, or Redis lost it): the node's random prefix and
/// Redis's clock in microseconds, 16 hex digits.
/// </remarks>
internal static class RedisScripts
{
    /// <summary>KEYS: meta, history. ARGV: pub/sub channel, data, epoch prefix (8 hex), history size, state TTL (ms). Returns the seq.</summary>
    public const string Publish = """
        local epoch = redis.call('HGET', KEYS[1], 'e')
        if not epoch then
          local t = redis.call('TIME')
          epoch = ARGV[3] .. string.format('%08x', (tonumber(t[1]) * 1000000 + tonumber(t[2])) % 4294967296)
          redis.call('DEL', KEYS[2])
          redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
        end
        local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
        local size = tonumber(ARGV[4])
        if size > 0 then
          local t = redis.call('TIME')
          local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
          redis.call('XADD', KEYS[2], 'MAXLEN', size, seq .. '-0', 't', ms, 'd', ARGV[2])
          redis.call('PEXPIRE', KEYS[2], ARGV[5])
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        redis.call('PUBLISH', ARGV[1], epoch .. ':' .. seq .. ':' .. ARGV[2])
        return seq
        """;

    /// <summary>
    /// KEYS: meta, history. ARGV: epoch prefix, after seq (below 0: the newest), count, state TTL (ms).
    /// Returns { epoch, seq, now ms, entries } (entries as XRANGE gives them).
    /// </summary>
    public const string Read = """
        local epoch = redis.call('HGET', KEYS[1], 'e')
        local seq = 0
        if not epoch then
          local t = redis.call('TIME')
          epoch = ARGV[1] .. string.format('%08x', (tonumber(t[1]) * 1000000 + tonumber(t[2])) % 4294967296)
          redis.call('DEL', KEYS[2])
          redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
        else
          seq = tonumber(redis.call('HGET', KEYS[1], 's'))
        end
        local t = redis.call('TIME')
        local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
        local after = tonumber(ARGV[2])
        local count = tonumber(ARGV[3])
        local entries = {}
        if count > 0 then
          if after >= 0 then
            entries = redis.call('XRANGE', KEYS[2], '(' .. after .. '-0', '+', 'COUNT', count)
          else
            entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count)
          end
        end
        return { epoch, seq, now, entries }
        """;
}
