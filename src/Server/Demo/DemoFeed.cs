using System.Buffers;
using System.Text.Json;
using FastWs.Server.Hosting;
using Microsoft.Extensions.Hosting;

namespace FastWs.Server.Demo;

/// <summary>
/// The <c>--demo</c> feed: simulated prices (4 a second), trades (random bursts) and funding rates (every
/// 5 s) for a few symbols, published through the in-process API so a new user sees live data at once.
/// Channels: price:SYM, trades:SYM, funding:SYM and market_data (a summary of all symbols).
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
        var buffer = new ArrayBufferWriter<byte>(512);
        using var json = new Utf8JsonWriter(buffer);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
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
                    Write(json, buffer, w =>
                    {
                        w.WriteString("symbol", Symbols[i]);
                        w.WriteNumber("price", Math.Round(prices[i], 4));
                        w.WriteNumber("ts", now);
                    });
                    await _state.Publisher.PublishAsync("price:" + Symbols[i], buffer.WrittenSpan, stoppingToken).ConfigureAwait(false);

                    if (random.NextDouble() < 0.6)
                    {
                        Write(json, buffer, w =>
                        {
                            w.WriteString("symbol", Symbols[i]);
                            w.WriteString("side", random.Next(2) == 0 ? "buy" : "sell");
                            w.WriteNumber("price", Math.Round(prices[i], 4));
                            w.WriteNumber("size", Math.Round(random.NextDouble() * 10, 3));
                            w.WriteNumber("ts", now);
                        });
                        await _state.Publisher.PublishAsync("trades:" + Symbols[i], buffer.WrittenSpan, stoppingToken).ConfigureAwait(false);
                    }

                    if (tick % 20 == 0)
                    {
                        Write(json, buffer, w =>
                        {
                            w.WriteString("symbol", Symbols[i]);
                            w.WriteNumber("rate", Math.Round((random.NextDouble() - 0.5) * 0.0005, 6));
                            w.WriteNumber("ts", now);
                        });
                        await _state.Publisher.PublishAsync("funding:" + Symbols[i], buffer.WrittenSpan, stoppingToken).ConfigureAwait(false);
                    }
                }

                Write(json, buffer, w =>
                {
                    for (int i = 0; i < Symbols.Length; i++)
                    {
                        w.WriteNumber(Symbols[i], Math.Round(prices[i], 4));
                    }

                    w.WriteNumber("ts", now);
                });
                await _state.Publisher.PublishAsync("market_data", buffer.WrittenSpan, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Host is stopping.
        }
    }

    private static void Write(Utf8JsonWriter json, ArrayBufferWriter<byte> buffer, Action<Utf8JsonWriter> body)
    {
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        json.WriteStartObject();
        body(json);
        json.WriteEndObject();
        json.Flush();
    }
}
