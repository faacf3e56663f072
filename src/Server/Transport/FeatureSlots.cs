using System.Runtime.CompilerServices;

namespace FastWs.Server.Transport;

/// <summary>
/// The features stored on an epoll connection, held inside the connection object itself: no collection object
/// and no array per connection. Kestrel sets four features on every connection (heartbeat, completion,
/// lifetime notification, metrics context); they fit the four inline slots, and a fifth and later go to an array.
/// </summary>
/// <remarks>A mutable struct: keep it in a field and call it there, never copy it.</remarks>
internal struct FeatureSlots
{
    private const int InlineCount = 4;

    private Inline _inline;
    private KeyValuePair<Type, object?>[]? _overflow;
    private int _count;

    /// <summary>Bumped by every <see cref="Set"/>: IFeatureCollection's change counter, which feature caches compare.</summary>
    public int Revision { get; private set; }

    /// <summary>The value stored for <paramref name="key"/>, and whether one was.</summary>
    public readonly bool TryGet(Type key, out object? value)
    {
        for (int i = 0; i < _count; i++)
        {
            KeyValuePair<Type, object?> entry = At(i);
            if (entry.Key == key)
            {
                value = entry.Value;
                return true;
            }
        }

        value = null;
        return false;
    }

    /// <summary>Stores (or replaces) the value for <paramref name="key"/>; null stays stored, and reads as absent.</summary>
    public void Set(Type key, object? value)
    {
        Revision++;
        for (int i = 0; i < _count; i++)
        {
            if (At(i).Key == key)
            {
                SetAt(i, new(key, value));
                return;
            }
        }

        if (_count >= InlineCount)
        {
            int overflowIndex = _count - InlineCount;
            if (_overflow is null || overflowIndex == _overflow.Length)
            {
                Array.Resize(ref _overflow, Math.Max(4, overflowIndex * 2));
            }
        }

        SetAt(_count++, new(key, value));
    }

    /// <summary>The features with a value, copied (enumeration is rare: diagnostics, never the request path).</summary>
    public readonly List<KeyValuePair<Type, object>> Snapshot()
    {
        var entries = new List<KeyValuePair<Type, object>>(_count);
        for (int i = 0; i < _count; i++)
        {
            KeyValuePair<Type, object?> entry = At(i);
            if (entry.Value is { } value)
            {
                entries.Add(new(entry.Key, value));
            }
        }

        return entries;
    }

    private readonly KeyValuePair<Type, object?> At(int index) => index < InlineCount ? _inline[index] : _overflow![index - InlineCount];

    private void SetAt(int index, KeyValuePair<Type, object?> entry)
    {
        if (index < InlineCount)
        {
            _inline[index] = entry;
        }
        else
        {
            _overflow![index - InlineCount] = entry;
        }
    }

    [InlineArray(InlineCount)]
    private struct Inline
    {
        private KeyValuePair<Type, object?> _first;
    }
}
