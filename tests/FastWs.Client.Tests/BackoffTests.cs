namespace FastWs.Client.Tests;

/// <summary>The reconnect delays: full jitter within the window, growth, cap and floor.</summary>
public sealed class BackoffTests
{
    [Fact]
    public void The_delay_is_the_random_share_of_a_window_that_doubles_up_to_the_cap()
    {
        BackoffOptions backoff = BackoffOptions.Default;
        Assert.Equal(TimeSpan.Zero, backoff.Delay(0, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(250), backoff.Delay(0, 0.5));
        Assert.Equal(TimeSpan.FromMilliseconds(500), backoff.Delay(1, 0.5));
        Assert.Equal(TimeSpan.FromMilliseconds(4000), backoff.Delay(4, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(15), backoff.Delay(10, 0.5)); // capped at 30 s
        Assert.Equal(TimeSpan.FromSeconds(15), backoff.Delay(int.MaxValue, 0.5));
        Assert.Equal(TimeSpan.Zero, backoff.Delay(3, double.NaN)); // a broken random source cannot push it out
        Assert.Equal(TimeSpan.FromSeconds(5), BackoffOptions.Policy.Delay(0, 0)); // the 1008 floor
        Assert.InRange(BackoffOptions.Policy.Delay(20, 0.999999).TotalSeconds, 124.9, 125); // 5 s floor + a 120 s cap
    }

    [Fact]
    public void Clients_dropped_together_spread_evenly_over_the_first_window()
    {
        var random = new Random(7);
        var backoff = new BackoffOptions { InitialDelay = TimeSpan.FromSeconds(10) };
        int[] perSecond = new int[10];
        for (int i = 0; i < 10_000; i++)
        {
            perSecond[(int)backoff.Delay(0, random.NextDouble()).TotalSeconds]++;
        }

        Assert.All(perSecond, n => Assert.InRange(n, 900, 1100)); // 1,000 expected in each second, none in a burst
    }
}
