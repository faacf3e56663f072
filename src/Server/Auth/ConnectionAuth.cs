namespace FastWs.Server.Auth;

/// <summary>
/// One connection's identity over time: the user of its current token, whether it is still waiting for a first
/// <c>auth</c> message (and the subscriptions that wait with it), and whether it has been warned of expiry. Only
/// connections that have a token or may still send one carry this object; anonymous connections on a server
/// without keys carry none. Its read loop and the supervisor's sweep both touch it, under its own lock.
/// </summary>
internal sealed class ConnectionAuth
{
    private List<string>? _pending;

    private ConnectionAuth(UserIdentity? user, long awaitUntilMs)
    {
        User = user;
        AwaitUntilMs = awaitUntilMs;
    }

    public static ConnectionAuth Authenticated(UserIdentity user) => new(user, 0);

    public static ConnectionAuth Awaiting(long deadlineMs) => new(null, deadlineMs);

    /// <summary>The current token's user; replaced as a whole by a refresh.</summary>
    public UserIdentity? User { get; private set; }

    /// <summary>While no token has come: the Environment.TickCount64 by which one must; 0 otherwise.</summary>
    public long AwaitUntilMs { get; private set; }

    public bool IsAwaiting => AwaitUntilMs != 0;

    /// <summary>Whether <c>token_expiring</c> went out for the current token.</summary>
    public bool WarningSent { get; set; }

    /// <summary>
    /// Holds a subscription until the first token arrives, with the client's position to recover from if it sent one
    /// (the caller holds the lock).
    /// </summary>
    public void AddPending(string channel, Channels.StreamPosition? since = null)
    {
        _pending ??= [];
        if (!_pending.Contains(channel))
        {
            _pending.Add(channel);
        }

        if (since is { } position)
        {
            (PendingSince ??= new(StringComparer.Ordinal))[channel] = position;
        }
    }

    /// <summary>The <c>since</c> positions of the waiting subscriptions, if any were sent; applied with them.</summary>
    public Dictionary<string, Channels.StreamPosition>? PendingSince { get; private set; }

    /// <summary>An unsubscribe before the token came: the channel no longer waits (the caller holds the lock).</summary>
    public void RemovePending(ReadOnlySpan<char> channel)
    {
        if (_pending is null)
        {
            return;
        }

        for (int i = 0; i < _pending.Count; i++)
        {
            if (channel.SequenceEqual(_pending[i]))
            {
                _pending.RemoveAt(i);
                return;
            }
        }
    }

    /// <summary>The first token: the connection has a user, and the subscriptions that waited are handed back to apply.</summary>
    public List<string>? Authenticate(UserIdentity user)
    {
        User = user;
        AwaitUntilMs = 0;
        WarningSent = false;
        List<string>? pending = _pending;
        _pending = null;
        return pending;
    }

    /// <summary>Takes the waiting subscriptions' <c>since</c> positions (with <see cref="Authenticate"/>).</summary>
    public Dictionary<string, Channels.StreamPosition>? TakePendingSince()
    {
        Dictionary<string, Channels.StreamPosition>? since = PendingSince;
        PendingSince = null;
        return since;
    }

    /// <summary>The wait is over without a token: the subscriptions that waited are handed back to refuse.</summary>
    public List<string>? GiveUp()
    {
        AwaitUntilMs = 0;
        PendingSince = null;
        List<string>? pending = _pending;
        _pending = null;
        return pending;
    }
}
