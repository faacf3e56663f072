using System.Net;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>The registry of live connections: slots taken, freed and reused, and what a walk of it sees.</summary>
public sealed class ConnectionRegistryTests
{
    private static readonly ServerMetrics Metrics = new();

    private static WebSocketConnection NewConnection()
    {
        return new WebSocketConnection(DetachedContext.Create(), Metrics, IPAddress.Loopback, directSends: false);
    }

    [Fact]
    public void Every_registered_connection_is_walked_once_and_removed_ones_are_not()
    {
        var registry = new ConnectionRegistry();
        // More than one block of slots, so the walk crosses block boundaries.
        List<WebSocketConnection> connections = Enumerable.Range(0, 150).Select(_ => NewConnection()).ToList();
        connections.ForEach(registry.Add);
        Assert.Equal(150, registry.Count);
        Assert.Equal(connections.Select(c => c.Id).Order(), registry.All.Select(c => c.Id).Order());

        List<WebSocketConnection> removed = connections.Where((_, i) => i % 3 == 0).ToList();
        removed.ForEach(registry.Remove);
        Assert.Equal(100, registry.Count);
        Assert.Equal(connections.Except(removed).Select(c => c.Id).Order(), registry.All.Select(c => c.Id).Order());
        Assert.All(removed, c => Assert.Equal(-1, c.RegistrySlot));
    }

    [Fact]
    public void Freed_slots_are_reused_so_churn_does_not_grow_the_registry()
    {
        var registry = new ConnectionRegistry();
        WebSocketConnection first = NewConnection();
        registry.Add(first);
        int slot = first.RegistrySlot;
        registry.Remove(first);

        WebSocketConnection next = NewConnection();
        registry.Add(next);
        Assert.Equal(slot, next.RegistrySlot);
        Assert.Equal([next], registry.All);
    }

    [Fact]
    public void Removing_twice_or_removing_an_unregistered_connection_changes_nothing()
    {
        var registry = new ConnectionRegistry();
        WebSocketConnection kept = NewConnection();
        WebSocketConnection gone = NewConnection();
        registry.Add(kept);
        registry.Add(gone);
        registry.Remove(gone);
        registry.Remove(gone);
        registry.Remove(NewConnection());
        Assert.Equal(1, registry.Count);
        Assert.Equal([kept], registry.All);
    }
}
