namespace FastWs.LoadGen.Metrics;

/// <summary>
/// The "p99 so far" of the live progress line: the per-second histograms merged as the seconds complete, over the
/// warm-up while it lasts and over the measured window from its first second on (the warm-up is dropped then, as
/// the report drops it). Called from the one sampler thread; each second is added once, skipped seconds are caught up.
/// </summary>
internal sealed class LatencySoFar
{
    private readonly double _warmupSeconds;
    private readonly Func<int, LatencyHistogram> _second;
    private LatencyHistogram _soFar = new();
    private int _next;
    private bool _measuring;

    /// <param name="warmupSeconds">Length of the warm-up: second s (from t0) belongs to the window when s &gt;= this.</param>
    /// <param name="second">The latency of deliveries that arrived in second s since t0.</param>
    public LatencySoFar(double warmupSeconds, Func<int, LatencyHistogram> second)
    {
        _warmupSeconds = warmupSeconds;
        _second = second;
    }

    /// <summary>Adds the seconds up to and including <paramref name="second"/> not added yet, and returns the merged histogram.</summary>
    public LatencyHistogram Through(int second)
    {
        for (; _next <= second; _next++)
        {
            if (!_measuring && _next >= _warmupSeconds)
            {
                _soFar = new LatencyHistogram();
                _measuring = true;
            }

            _soFar.Add(_second(_next));
        }

        return _soFar;
    }
}
