namespace FastWs.Server.Connections;

/// <summary>
/// One connection's traffic for the connections view (<c>GET /api/connections</c>): data messages and bytes each
/// way, and the error replies it was sent. Held inline in <see cref="WebSocketConnection"/> (no object of its own).
/// </summary>
/// <remarks>
/// Each count has one writer, so it is a plain add of a field that is in cache anyway: what comes in is counted by the
/// connection's read loop, what goes out by whoever holds the connection's write lock (fan-out, a send by id). No
/// Interlocked on the delivery path. The view reads the fields from another thread without a lock: a 64-bit read is
/// atomic on the platforms FastWs runs on, so it sees a value that is at most a moment old, never a torn one.
/// Errors are the exception: the read loop and the supervisor (token expiry warnings) both send them, rarely, so
/// that count is an Interlocked add.
/// </remarks>
internal struct ConnectionTraffic
{
    /// <summary>Data messages (text and binary) received from the client.</summary>
    public long MessagesIn;

    /// <summary>Payload bytes of those messages.</summary>
    public long BytesIn;

    /// <summary>Data messages written to the client (channel messages and sends by id; not acks, errors or pings).</summary>
    public long MessagesOut;

    /// <summary>Bytes of those messages' frames.</summary>
    public long BytesOut;

    /// <summary>Error replies sent to the client.</summary>
    public long Errors;

    /// <summary>Read loop only.</summary>
    public void Received(int bytes)
    {
        MessagesIn++;
        BytesIn += bytes;
    }

    /// <summary>Under the connection's write lock only.</summary>
    public void Sent(long messages, int bytes)
    {
        MessagesOut += messages;
        BytesOut += bytes;
    }

    public void ErrorSent() => Interlocked.Increment(ref Errors);
}
