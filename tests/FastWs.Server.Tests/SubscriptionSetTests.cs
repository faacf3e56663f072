using FastWs.Server.Channels;
using FastWs.Server.Hosting;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// A connection's own subscription set, through both of its modes: small (the first subscription inline, the
/// rest in an array) and large (dictionaries, past <see cref="SubscriptionSet.SmallLimit"/>).
/// </summary>
public sealed class SubscriptionSetTests
{
    private static readonly NamespaceOptions Prices = new() { Quota = "market" };
    private static readonly NamespaceOptions Alerts = new();

    // price:K0..K3 repeat their key groups: channel i is in key group "K" + (i % 4).
    private static List<Channel> Channels(int count) =>
        Enumerable.Range(0, count).Select(i => new Channel(i % 2 == 0 ? "price:K" + (i % 4) : "alert:K" + (i % 4) + "x" + i, i % 2 == 0 ? Prices : Alerts, shard: 0)).ToList();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(SubscriptionSet.SmallLimit)]
    [InlineData(SubscriptionSet.SmallLimit + 1)]
    [InlineData(40)]
    public void Adds_and_removes_keep_slots_counts_and_key_groups_exact(int count)
    {
        var set = new SubscriptionSet();
        List<Channel> channels = Channels(count);
        for (int i = 0; i < count; i++)
        {
            set.Add(channels[i], slot: 100 + i);
        }

        Assert.Equal(count, set.Count);
        Assert.All(channels, c => Assert.True(set.Contains(c)));
        Assert.False(set.Contains(Channels(1)[0]));
        Assert.Equal((count + 1) / 2, set.CountInQuota("market"));
        Assert.Equal(Enumerable.Range(0, count).Select(i => (channels[i].Name, 100 + i)).Order(), set.ToArray().Select(p => (p.Key.Name, p.Value)).Order());
        Assert.Throws<ArgumentException>(() => set.Add(channels[count - 1], 1));

        // Remove from the middle, the end and the front in turn, checking each slot given back.
        var remaining = Enumerable.Range(0, count).ToList();
        int turn = 0;
        while (remaining.Count > 0)
        {
            int pick = (turn++ % 3) switch { 0 => remaining.Count / 2, 1 => remaining.Count - 1, _ => 0 };
            int i = remaining[pick];
            remaining.RemoveAt(pick);
            string group = channels[i].KeyGroup!;
            bool groupStays = remaining.Any(r => channels[r].KeyGroup == group);

            Assert.True(set.Remove(channels[i], out int slot, out bool leftKeyGroup));
            Assert.Equal(100 + i, slot);
            Assert.Equal(!groupStays, leftKeyGroup);
            Assert.Equal(groupStays, set.IsInKeyGroup(group));
            Assert.False(set.Contains(channels[i]));
            Assert.False(set.Remove(channels[i], out _, out _));
            Assert.Equal(remaining.Count, set.Count);
            Assert.Equal(remaining.Count(r => r % 2 == 0), set.CountInQuota("market"));
            Assert.All(remaining, r => Assert.True(set.Contains(channels[r])));
        }

        Assert.Empty(set.ToArray());
    }

    [Fact]
    public void A_channel_without_a_key_group_never_reports_leaving_one()
    {
        var set = new SubscriptionSet();
        var plain = new Channel("alerts", Alerts, shard: 0);
        set.Add(plain, 7);
        Assert.True(set.Remove(plain, out int slot, out bool leftKeyGroup));
        Assert.Equal(7, slot);
        Assert.False(leftKeyGroup);
        Assert.Equal(0, set.Count);
    }
}
