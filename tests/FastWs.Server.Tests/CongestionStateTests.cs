using System.Net;
using FastWs.Server.Connections;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// A connection's congestion state as the supervisor reads it: set when a flush leaves more than the limit unsent,
/// cleared when the backlog drains, and readable while another thread holds the connection's write lock.
/// </summary>
public sealed class CongestionStateTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static WebSocketConnection CongestedConnection(FullSocket socket)
    {
        var connection = new WebSocketConnection(DetachedContext.Create(socket), new ServerMetrics(), IPAddress.Loopback, maxUnsentBytes: 16);
        byte[] frame = new byte[100];
        frame[0] = 0x81;
        frame[1] = 98;
        Assert.Equal(DataWrite.Written, connection.WriteDirect(frame, sendThrough: true));
        return connection;
    }

    [Fact]
    public async Task Over_the_limit_is_congested_until_the_backlog_drains()
    {
        var socket = new FullSocket();
        WebSocketConnection connection = CongestedConnection(socket);

        Assert.True(connection.IsCongested);
        Assert.True(connection.CongestedFor > TimeSpan.Zero);
        Assert.Equal(DataWrite.Skipped, connection.WriteDirect(new byte[] { 0x81, 0x00 }, sendThrough: true));

        socket.Drain.SetResult(true);
        DateTime deadline = DateTime.UtcNow + Bound;
        while (connection.IsCongested && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.False(connection.IsCongested);
        Assert.Equal(TimeSpan.Zero, connection.CongestedFor);
    }

    [Fact]
    public async Task The_supervisor_reads_congestion_without_waiting_for_the_write_lock()
    {
        var socket = new FullSocket();
        WebSocketConnection connection = CongestedConnection(socket);
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Task holder = Task.Factory.StartNew(
            () =>
            {
                using (connection.HoldOutput())
                {
                    holding.Set();
                    // Longer than the read may take, so a read that waits for the lock fails rather than getting it late.
                    release.Wait(3 * Bound);
                }
            },
            TaskCreationOptions.LongRunning);
        try
        {
            Assert.True(holding.Wait(Bound));

            // With the lock held elsewhere (as by a fan-out thread mid-delivery), the reads must still return.
            Task<(bool Congested, TimeSpan For)> read = Task.Factory.StartNew(() => (connection.IsCongested, connection.CongestedFor), TaskCreationOptions.LongRunning);
            Assert.Same(read, await Task.WhenAny(read, Task.Delay(Bound)));
            (bool congested, TimeSpan congestedFor) = await read;
            Assert.True(congested);
            Assert.True(congestedFor > TimeSpan.Zero);
        }
        finally
        {
            release.Set();
            await holder;
            socket.Drain.SetResult(false);
        }
    }
}
