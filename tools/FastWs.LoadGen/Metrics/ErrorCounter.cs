using System.Collections.Concurrent;

namespace FastWs.LoadGen.Metrics;

/// <summary>Errors counted by kind ("handshake: HTTP 503", "closed by server: 1008", "server error: rate_limited" ...).</summary>
internal sealed class ErrorCounter
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    /// <summary>The first message seen for each kind, to show one example in the report.</summary>
    private readonly ConcurrentDictionary<string, string> _examples = new(StringComparer.Ordinal);

    public void Add(string kind, string? example = null, long count = 1)
    {
        _counts.AddOrUpdate(kind, static (_, add) => add, static (_, old, add) => old + add, count);
        if (example is not null)
        {
            _examples.TryAdd(kind, example);
        }
    }

    public long Total => _counts.Values.Sum();

    public IReadOnlyList<(string Kind, long Count, string? Example)> Snapshot() =>
        _counts.OrderByDescending(kv => kv.Value)
            .ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value, _examples.TryGetValue(kv.Key, out string? e) ? e : null))
            .ToList();

    /// <summary>Sum of counts whose kind starts with <paramref name="prefix"/>.</summary>
    public long CountWithPrefix(string prefix) =>
        _counts.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(kv => kv.Value);
}
