using System.Globalization;
using System.Text;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// The compressed workloads' data (issue 20): a realistic ~1 KB price object, what a perpetuals front end gets for a
/// slab: mark and index price, funding, open interest and ten order-book levels a side, each with price, size and
/// side. The numbers walk from message to message (a fixed set of variants, made once from a seeded random walk and
/// taken in turn), so a compressor sees the same keys and structure every time but never the same message twice in a row.
/// </summary>
internal static class PricePayload
{
    private const int Variants = 64;
    private const int LevelsPerSide = 10;

    /// <summary>The members after <c>"t":TICKS,</c> up to and including the closing brace, one per variant (ASCII).</summary>
    public static byte[][] Tails()
    {
        var random = new Random(20);
        double mid = 150.0;
        var tails = new byte[Variants][];
        var json = new StringBuilder(1200);
        for (int v = 0; v < Variants; v++)
        {
            mid *= 1 + ((random.NextDouble() - 0.5) * 0.002);
            json.Clear();
            json.Append(CultureInfo.InvariantCulture, $"\"type\":\"book\",\"slab\":\"SOL-PERP\",\"market\":\"SOL/USDC\",\"markPrice\":{mid:F4},\"indexPrice\":{mid * (1 + ((random.NextDouble() - 0.5) * 0.0004)):F4},");
            json.Append(CultureInfo.InvariantCulture, $"\"fundingRate\":{(random.NextDouble() - 0.4) * 0.0005:F6},\"openInterest\":{1_200_000 + (random.NextDouble() * 50_000):F2},");
            AppendSide(json, "bids", "bid", mid, -1, random);
            json.Append(',');
            AppendSide(json, "asks", "ask", mid, 1, random);
            json.Append(CultureInfo.InvariantCulture, $",\"updatedAt\":{1_765_000_000_000L + (v * 10):D}}}");
            tails[v] = Encoding.ASCII.GetBytes(json.ToString());
        }

        return tails;
    }

    private static void AppendSide(StringBuilder json, string name, string side, double mid, int direction, Random random)
    {
        json.Append('"').Append(name).Append("\":[");
        double price = mid;
        for (int i = 0; i < LevelsPerSide; i++)
        {
            price += direction * (0.01 + (random.NextDouble() * 0.05));
            json.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "" : ",")}{{\"price\":{price:F3},\"size\":{random.NextDouble() * 250:F3},\"side\":\"{side}\"}}");
        }

        json.Append(']');
    }
}
