using System.Collections.Concurrent;

namespace FastWs.Server.Connections;

/// <summary>Every upgraded connection that has not ended yet, for supervision, stats and shutdown.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<long, WebSocketConnection> _connections = new();

    public int Count => _connections.Count;

    public IEnumerable<WebSocketConnection> All => _connections.Values;

    internal void Add(WebSocketConnection connection) => _connections.TryAdd(connection.Id, connection);

    internal void Remove(WebSocketConnection connection) => _connections.TryRemove(connection.Id, out _);
}
