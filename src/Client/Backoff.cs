namespace FastWs.Client;

/// <summary>
/// Reconnect delays: exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS architecture blog).
/// The delay before attempt n (0 for the first after a drop) is
/// <c>MinDelay + random × min(MaxDelay, InitialDelay × Multiplier^n)</c>, so clients dropped at the same moment come
/// back spread evenly over the whole window instead of in one burst. The same rule as the TypeScript client.
/// </summary>
public sealed record BackoffOptions
{
    /// <summary>Ordinary drops (1001, 1013, 1006 network, refused handshakes): windows of 0.5, 1, 2, 4, 8, 16, then 30 s.</summary>
    public static BackoffOptions Default { get; } = new();

    /// <summary>Close 1008 (connection or rate limit): the server is full, so 5 s plus jitter over 5, 10, ... 120 s.</summary>
    public static BackoffOptions Policy { get; } = new()
    {
        InitialDelay = TimeSpan.FromSeconds(5),
        MaxDelay = TimeSpan.FromSeconds(120),
        MinDelay = TimeSpan.FromSeconds(5),
    };

    /// <summary>Upper bound of the first delay.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound no delay exceeds (before <see cref="MinDelay"/> is added).</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Growth of the upper bound per failed attempt.</summary>
    public double Multiplier { get; init; } = 2;

    /// <summary>Added to every delay: a floor no jitter goes under.</summary>
    public TimeSpan MinDelay { get; init; } = TimeSpan.Zero;

    /// <summary>The delay before attempt <paramref name="attempt"/>, with <paramref name="random"/> in [0, 1).</summary>
    public TimeSpan Delay(int attempt, double random)
    {
        double ceiling = Math.Min(MaxDelay.TotalMilliseconds, InitialDelay.TotalMilliseconds * Math.Pow(Multiplier, Math.Max(0, attempt)));
        double r = random is >= 0 and < 1 ? random : 0;
        return MinDelay + TimeSpan.FromMilliseconds(r * ceiling);
    }
}
