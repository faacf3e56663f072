namespace FastWs.Server.Publishing;

/// <summary>The side of a trade: written as <c>"buy"</c> or <c>"sell"</c>.</summary>
public enum TradeSide
{
    Buy,
    Sell,
}
