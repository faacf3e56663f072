using System.Buffers;
using System.Text.Json;
using FastWs.Server.Hosting;
using FastWs.Server.Publishing;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Demo;

/// <summary>
/// The <c>--demo</c> feed: simulated prices (4 a second), trades (random bursts) and funding rates (every
/// 5 s) for a few symbols, published through the typed API (<see cref="TypedPublisher"/>, the seed shapes) so a new
/// user sees live data at once. Channels: price:SYM, trades:SYM, funding:SYM and market_data (the last price of
/// every symbol).
/// </summary>
internal sealed class DemoFeed : BackgroundService
{
    private static readonly string[] Symbols = ["SOL", "BTC", "ETH"];
    private static readonly double[] StartPrices = [150.0, 65000.0, 3200.0];

    private readonly ServerState _state;

    public DemoFeed(ServerState state)
    {
        _state = state;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var random = new Random(42);
        double[] prices = (double[])StartPrices.Clone();
        var buffer = new ArrayBufferWriter<byte>(256);
        using var json = new Utf8JsonWriter(buffer);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        TypedPublisher events = _state.Events;
        long tick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false) && !_state.IsShuttingDown)
            {
                tick++;
                long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                for (int i = 0; i < Symbols.Length; i++)
                {
                    prices[i] *= 1 + ((random.NextDouble() - 0.5) * 0.002);
                    double price = Math.Round(prices[i], 4);

                    // Mark and index a hair above and below the last price, as on a perp market.
                    await events.PublishPriceAsync(Symbols[i], price, Math.Round(prices[i] * 1.0001, 4), Math.Round(prices[i] * 0.9999, 4), now, stoppingToken)
                        .ConfigureAwait(false);

                    if (random.NextDouble() < 0.6)
                    {
                        TradeSide side = random.Next(2) == 0 ? TradeSide.Buy : TradeSide.Sell;
                        await events.PublishTradeAsync(Symbols[i], side, Math.Round(random.NextDouble() * 10, 3), price, now, stoppingToken).ConfigureAwait(false);
                    }

                    if (tick % 20 == 0)
                    {
                        await events.PublishFundingAsync(Symbols[i], Math.Round((random.NextDouble() - 0.5) * 0.0005, 6), now, stoppingToken).ConfigureAwait(false);
                    }
                }

                buffer.ResetWrittenCount();
                json.Reset(buffer);
                json.WriteStartObject();
                for (int i = 0; i < Symbols.Length; i++)
                {
                    json.WriteNumber(Symbols[i], Math.Round(prices[i], 4));
                }

                json.WriteEndObject();
                json.Flush();
                await events.PublishMarketDataAsync(buffer.WrittenSpan, now, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Host is stopping.
        }
    }
}
