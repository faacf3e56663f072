using FastWs.Client.Tests.TestSupport;
using FastWs.Server.Publishing;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Client.Tests;

/// <summary>The README's ".NET service" example, line for line (the URL and the number of trades aside), against a real server publishing typed trades.</summary>
public sealed class ReadmeExampleTests
{
    private sealed record Trade(string Side, double Size, double Price);

    [Fact]
    public async Task The_readme_example_reads_typed_trades_in_order()
    {
        await using Harness harness = await Harness.StartAsync();
        var lines = new List<string>();

        // ---- README ".NET service", with Console.WriteLine as lines.Add ----
        await using var client = new FastWsClient(harness.Url, new FastWsClientOptions
        {
            // Token = jwt, RefreshToken = (reason, ct) => GetTokenAsync(ct),  when the server checks tokens
        });
        client.Opened += (_, e) => lines.Add($"connected {e.ConnectionId}{(e.Reconnected ? " (again)" : "")}");
        client.Closed += (_, e) => lines.Add($"closed {e.Code} {e.Reason}, {(e.WillReconnect ? $"retry in {e.Delay}" : "stopped")}");

        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await using FastWsSubscription trades = await client.SubscribeAsync("trades:SOL", stop.Token); // FastWsException if refused
        await harness.Server.Server.Events.PublishTradeAsync("SOL", TradeSide.Buy, 2.5, 150.1, 1_732_252_800_123);
        await harness.Server.Server.Events.PublishTradeAsync("SOL", TradeSide.Sell, 1, 150.2, 1_732_252_800_311);
        try
        {
            await foreach (FastWsMessage m in trades.WithCancellation(stop.Token))
            {
                if (m.Kind == FastWsMessageKind.Reset)
                {
                    lines.Add($"start over at {m.Position}"); // new epoch or history too short: drop what you hold
                    continue;
                }

                Trade trade = m.Deserialize<Trade>()!; // each seq once, in order, across reconnects
                lines.Add($"#{m.Seq} {trade.Side} {trade.Size} @ {trade.Price}");
                if (m.Seq == 2)
                {
                    break; // (the test's own end)
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the minute is over
        }

        // ---- end of the example ----
        Assert.Equal(["#1 buy 2.5 @ 150.1", "#2 sell 1 @ 150.2"], lines.Where(l => l.StartsWith('#')));
        Assert.StartsWith("connected ", lines[0], StringComparison.Ordinal);
    }
}
