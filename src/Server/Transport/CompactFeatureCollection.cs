using System.Collections;
using Microsoft.AspNetCore.Http.Features;

namespace FastWs.Server.Transport;

/// <summary>
/// The feature collection of an epoll connection: the handful of features Kestrel sets on every connection in a
/// small array searched in order (no dictionary per connection), and anything the connection object itself
/// implements (such as the direct sender) answered by the connection without being stored.
/// </summary>
internal sealed class CompactFeatureCollection : IFeatureCollection
{
    private readonly object _owner;
    private KeyValuePair<Type, object?>[] _items = new KeyValuePair<Type, object?>[5];
    private int _count;

    public CompactFeatureCollection(object owner) => _owner = owner;

    public bool IsReadOnly => false;

    public int Revision { get; private set; }

    public object? this[Type key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            for (int i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    return _items[i].Value;
                }
            }

            return key.IsInstanceOfType(_owner) ? _owner : null;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            Revision++;
            for (int i = 0; i < _count; i++)
            {
                if (_items[i].Key == key)
                {
                    _items[i] = new(key, value);
                    return;
                }
            }

            if (_count == _items.Length)
            {
                Array.Resize(ref _items, _count * 2);
            }

            _items[_count++] = new(key, value);
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (int i = 0; i < _count; i++)
        {
            if (_items[i].Value is { } value)
            {
                yield return new(_items[i].Key, value);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
