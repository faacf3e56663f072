namespace FastWs.Server.Connections;

/// <summary>
/// One connection's traffic as the connections view (<c>GET /api/connections</c>) shows it, read from
/// <see cref="WebSocketConnection.Traffic"/>.
/// </summary>
/// <remarks>
/// How the counts are kept, so that the delivery path pays nothing it can measure: each has one writer and is a plain
/// add of a field in a cache line the writer touches anyway. What goes out is counted by whoever holds the connection's
/// write lock (fan-out, a send by id), beside the congestion state every delivery reads; what comes in by the
/// connection's read loop, beside the receive timestamp it writes per read. No Interlocked and no allocation on either
/// path. The view reads them from another thread without a lock: a 64-bit read is atomic on the platforms FastWs runs
/// on, so a value is at most a moment old, never torn. Errors are the exception: the read loop and the supervisor (token
/// warnings) both send them, rarely, so that count is an Interlocked add.
/// </remarks>
/// <param name="MessagesIn">Data messages (text and binary) received from the client.</param>
/// <param name="BytesIn">Payload bytes of those messages.</param>
/// <param name="MessagesOut">Data messages written to the client (channel messages and sends by id; not acks, errors or pings).</param>
/// <param name="BytesOut">Frame bytes of those messages.</param>
/// <param name="Errors">Error replies sent to the client.</param>
internal readonly record struct ConnectionTraffic(long MessagesIn, long BytesIn, long MessagesOut, long BytesOut, long Errors);
