using System.Diagnostics;
using System.Text;
using FastWs.Protocol.Frames;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Protection;

/// <summary>
/// 10,000 connections that vanish without a close frame (FIN or reset, after the subscribe's ack or racing it),
/// 48 at a time: every one is counted as a 1006 close (or, for those gone before the upgrade was read, as a
/// disconnected handshake), a bystander misses nothing, and nothing is left behind.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class VanishingClientTests
{
    private const int Connections = 10_000;
    private const int Concurrency = 48;

    private enum Ending
    {
        /// <summary>TCP FIN after the ack: the socket closed, no close frame.</summary>
        FinAfterAck,

        /// <summary>TCP reset after the ack.</summary>
        ResetAfterAck,

        /// <summary>Reset right after sending the upgrade and the subscribe, racing the server's handling of them.</summary>
        ResetAtOnce,

        /// <summary>FIN right after sending the upgrade and the subscribe.</summary>
        FinAtOnce,
    }

    [Fact]
    public async Task Ten_thousand_connections_vanishing_without_a_close_frame_are_counted_and_leave_nothing_behind()
    {
        await using TestServer server = await TestServer.StartAsync();
        await using Bystander bystander = await Bystander.StartAsync(server);

        var watch = Stopwatch.StartNew();
        int[] endings = new int[4];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Parallel.ForAsync(0, Connections, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = timeout.Token }, async (i, _) =>
        {
            var ending = (Ending)(i % 4);
            Interlocked.Increment(ref endings[(int)ending]);
            RawClient client = await RawClient.ConnectAsync(server.WebSocketEndPoint);
            try
            {
                if (ending is Ending.ResetAfterAck or Ending.ResetAtOnce)
                {
                    ProtectionKit.ResetOnClose(client.Socket);
                }

                // The bystander's channel (so fan-out races with the vanishing) and one of a few dozen others.
                string subscribe = $$"""{"type":"subscribe","channels":["{{Bystander.Channel}}","price:V{{i % 50}}"],"id":{{i}}}""";
                byte[] request = Encoding.ASCII.GetBytes(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", RawClient.NewKey()));
                await client.SendAsync(request.Concat(RawClient.MaskedText(subscribe)).ToArray());
                if (ending is Ending.ResetAtOnce or Ending.FinAtOnce)
                {
                    return;
                }

                Assert.Equal(101, (await client.ReadHttpResponseAsync()).StatusCode);
                string ack = await client.ReadTextAsync();
                Assert.StartsWith("""{"type":"subscribed""", ack);
            }
            finally
            {
                await client.DisposeAsync();
            }
        });

        await TestServer.WaitUntilAsync(
            () => server.State.Metrics.ConnectionsActive == 1 && server.State.PendingHandshakes.Count == 0
                && server.State.Metrics.ClosesWithCode(CloseCode.AbnormalClosure) + server.State.Metrics.HandshakeFailuresTotal == Connections,
            () => $"the vanished connections to be cleaned up and counted ({ProtectionKit.Describe(server)}; " +
                $"closes 1006: {server.State.Metrics.ClosesWithCode(CloseCode.AbnormalClosure)}, handshake failures: {server.State.Metrics.HandshakeFailuresTotal})");
        long closed = server.State.Metrics.ClosesWithCode(CloseCode.AbnormalClosure);
        long disconnected = server.State.Metrics.HandshakeFailureCount(HandshakeFailure.Disconnected);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Connections} vanished in {watch.ElapsedMilliseconds} ms: {closed} closes 1006, {disconnected} gone before the upgrade was read");

        // Every connection is accounted for: upgraded and closed 1006, or gone before its upgrade was read.
        Assert.True(closed >= Connections / 2, $"Only {closed} closes 1006; those that read their ack alone are {Connections / 2}");
        Assert.Equal(Connections, closed + disconnected);
        Assert.Equal(disconnected, server.State.Metrics.HandshakeFailuresTotal);
        Assert.Equal(closed, server.State.Metrics.ClosesByCode().Sum(c => c.Value));
        Assert.Equal(closed + 1, server.State.Metrics.ConnectionsTotal); // and the bystander

        // Only the bystander's state is left, and it got every message.
        Assert.Equal(1, server.State.Channels.Count);
        Assert.Equal(1, server.State.ConnectionLimiter.Total);
        Assert.Equal(1, server.State.KeyGroups.GroupCount);
        await bystander.VerifyAndCloseAsync();
        await ProtectionKit.AssertNothingLeftAsync(server);
        Assert.Equal(0, server.State.Metrics.FanOutFailures);
    }
}
