using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Server.Connections;

/// <summary>
/// Connections that have not finished their upgrade request yet, with their start time. The supervisor's one
/// ticking loop aborts those that take longer than the handshake timeout, so a client that sends half a request
/// line and stops holds nothing for long, and no connection needs a timer of its own.
/// </summary>
public sealed class PendingHandshakes
{
    private readonly ConcurrentDictionary<ConnectionContext, long> _started = new();

    public int Count => _started.Count;

    internal void Add(ConnectionContext connection) => _started[connection] = Environment.TickCount64;

    /// <summary>Returns false when the handshake was no longer pending: the supervisor aborted it.</summary>
    internal bool Remove(ConnectionContext connection) => _started.TryRemove(connection, out _);

    /// <summary>Aborts every handshake older than <paramref name="timeout"/>; returns how many.</summary>
    internal int AbortExpired(TimeSpan timeout)
    {
        long now = Environment.TickCount64;
        long limitMs = (long)timeout.TotalMilliseconds;
        int aborted = 0;
        foreach (KeyValuePair<ConnectionContext, long> pending in _started)
        {
            if (now - pending.Value > limitMs && _started.TryRemove(pending.Key, out _))
            {
                pending.Key.Abort(new ConnectionAbortedException("Handshake timeout"));
                aborted++;
            }
        }

        return aborted;
    }
}
