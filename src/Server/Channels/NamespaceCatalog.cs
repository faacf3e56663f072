using System.Collections.Frozen;
using System.Text.RegularExpressions;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;

namespace FastWs.Server.Channels;

/// <summary>The configured namespaces, frozen at start-up for allocation-free lookups by span.</summary>
public sealed class NamespaceCatalog
{
    private readonly FrozenDictionary<string, NamespaceOptions> _namespaces;
    private readonly FrozenDictionary<string, NamespaceOptions>.AlternateLookup<ReadOnlySpan<char>> _bySpan;

    public NamespaceCatalog(IReadOnlyDictionary<string, NamespaceOptions> namespaces)
    {
        ArgumentNullException.ThrowIfNull(namespaces);
        foreach ((string name, NamespaceOptions options) in namespaces)
        {
            options.KeyRegex = CompileKeyPattern(name, options.KeyPattern);
        }

        _namespaces = namespaces.ToFrozenDictionary(StringComparer.Ordinal);
        _bySpan = _namespaces.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public IEnumerable<string> Names => _namespaces.Keys;

    /// <summary>
    /// Compiles a key pattern once, anchored to the whole key, with the non-backtracking engine: matching is linear in
    /// the key's length (at most 128 characters), so no pattern can be made to take long.
    /// </summary>
    private static Regex? CompileKeyPattern(string name, string? pattern)
    {
        if (string.IsNullOrEmpty(pattern))
        {
            return null;
        }

        try
        {
            return new Regex("^(?:" + pattern + ")$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"FastWs:Namespaces:{name}:KeyPattern: '{pattern}' is not a valid regular expression: {ex.Message}", ex);
        }
    }

    /// <summary>Whether any namespace lets <paramref name="caller"/> publish (its publishes then count against the publish rate).</summary>
    public bool AnyPublishAllowed(in Caller caller)
    {
        foreach (NamespaceOptions options in _namespaces.Values)
        {
            if (options.Publish.AllowsSomeKey(caller))
            {
                return true;
            }
        }

        return false;
    }

    public bool TryGet(ReadOnlySpan<char> name, out NamespaceOptions options) =>
        _bySpan.TryGetValue(name, out options!);
}
