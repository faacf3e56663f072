namespace FastWs.Server.Connections;

/// <summary>
/// A set of connections in reusable slots, read without locks while writers add and remove under a lock of
/// their owner's: a channel's subscribers (the fan-out shard reads them) and the registry of every connection
/// (the supervisor and shutdown read it).
/// </summary>
/// <remarks>
/// Slots live in fixed-size blocks that are never moved, so adding or removing a connection is one reference
/// write (O(1), no copying of the whole list) and a reader walking the blocks sees each slot either before or
/// after the change. Either is correct: a subscriber that joins or leaves while a message is being fanned out
/// may or may not get that message, and every other subscriber gets it exactly once. Only the small array of
/// block references is copied, when the list grows past a block boundary. Freed slots are reused. A member
/// costs one slot (8 bytes, plus its share of a part-filled block).
/// </remarks>
internal sealed class ConnectionSlots
{
    private const int BlockSize = 64;

    private volatile WebSocketConnection?[][] _blocks = [];
    private int[] _freeSlots = new int[4];
    private int _freeCount;
    private int _highWater;
    private int _count;

    /// <summary>Live members. Written under the owner's lock; read anywhere.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The blocks to iterate; empty slots are null. Safe to read without a lock.</summary>
    public WebSocketConnection?[][] Blocks => _blocks;

    /// <summary>
    /// The members, read without a lock: one that is added or removed during the walk may or may not be in it,
    /// every other one is, exactly once. (The fan-out walks <see cref="Blocks"/> itself, with no enumerator.)
    /// </summary>
    public IEnumerable<WebSocketConnection> Members
    {
        get
        {
            foreach (WebSocketConnection?[] block in _blocks)
            {
                for (int i = 0; i < block.Length; i++)
                {
                    if (Volatile.Read(ref block[i]) is { } member)
                    {
                        yield return member;
                    }
                }
            }
        }
    }

    /// <summary>The member in <paramref name="slot"/>, or null for an empty or unknown slot. Safe to read without a lock.</summary>
    public WebSocketConnection? Get(int slot)
    {
        WebSocketConnection?[][] blocks = _blocks;
        int block = slot / BlockSize;
        return slot < 0 || block >= blocks.Length ? null : Volatile.Read(ref blocks[block][slot % BlockSize]);
    }

    /// <summary>Adds a connection and returns its slot, which <see cref="Remove"/> takes back. Call under the owner's lock.</summary>
    public int Add(WebSocketConnection connection)
    {
        int slot = _freeCount > 0 ? _freeSlots[--_freeCount] : _highWater++;
        int block = slot / BlockSize;
        WebSocketConnection?[][] blocks = _blocks;
        if (block == blocks.Length)
        {
            var grown = new WebSocketConnection?[blocks.Length + 1][];
            blocks.CopyTo(grown, 0);
            grown[block] = new WebSocketConnection?[BlockSize];
            _blocks = blocks = grown;
        }

        Volatile.Write(ref blocks[block][slot % BlockSize], connection);
        Volatile.Write(ref _count, _count + 1);
        return slot;
    }

    /// <summary>Empties a slot. Call under the owner's lock.</summary>
    public void Remove(int slot)
    {
        Volatile.Write(ref _blocks[slot / BlockSize][slot % BlockSize], null);
        if (_freeCount == _freeSlots.Length)
        {
            Array.Resize(ref _freeSlots, _freeSlots.Length * 2);
        }

        _freeSlots[_freeCount++] = slot;
        Volatile.Write(ref _count, _count - 1);
    }
}
