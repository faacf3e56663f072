namespace FastWs.Server.Connections;

/// <summary>Every upgraded connection that has not ended yet, for supervision, stats and shutdown.</summary>
/// <remarks>
/// The connections sit in <see cref="ConnectionSlots"/> and each knows its slot, so registering is O(1) under a
/// lock taken only at connect and disconnect, and readers walk the slots without one. An idle connection costs
/// its slot, about 9 bytes, where a <c>ConcurrentDictionary</c> entry cost 48 (and reading its values copied them all).
/// </remarks>
public sealed class ConnectionRegistry
{
    private readonly Lock _lock = new();
    private readonly ConnectionSlots _slots = new();

    public int Count => _slots.Count;

    /// <summary>
    /// The registered connections. Connections that register or end while this is walked may or may not be in it;
    /// every other one is, exactly once.
    /// </summary>
    public IEnumerable<WebSocketConnection> All => _slots.Members;

    /// <summary>
    /// The registered connection a <see cref="WebSocketConnection.ConnectionId"/> names, or null: the id carries the
    /// connection's slot, so this is one array read (no dictionary entry per connection), and its counter part
    /// tells a later connection that reuses the slot from the one the id was given to.
    /// </summary>
    public WebSocketConnection? Find(ReadOnlySpan<char> connectionId) =>
        ConnectionIds.TryParse(connectionId, out long id, out int slot) && _slots.Get(slot) is { } connection && connection.Id == id
            ? connection
            : null;

    internal void Add(WebSocketConnection connection)
    {
        lock (_lock)
        {
            connection.RegistrySlot = _slots.Add(connection);
        }
    }

    internal void Remove(WebSocketConnection connection)
    {
        lock (_lock)
        {
            if (connection.RegistrySlot >= 0)
            {
                _slots.Remove(connection.RegistrySlot);
                connection.RegistrySlot = -1;
            }
        }
    }
}
