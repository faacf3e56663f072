using System.Collections.Frozen;
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
        _namespaces = namespaces.ToFrozenDictionary(StringComparer.Ordinal);
        _bySpan = _namespaces.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public IEnumerable<string> Names => _namespaces.Keys;

    public bool TryGet(ReadOnlySpan<char> name, out NamespaceOptions options) =>
        _bySpan.TryGetValue(name, out options!);
}
