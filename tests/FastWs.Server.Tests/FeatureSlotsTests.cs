using FastWs.Server.Transport;

namespace FastWs.Server.Tests;

/// <summary>The epoll connection's inline feature storage: four slots in the object, more in an overflow array.</summary>
public sealed class FeatureSlotsTests
{
    [Fact]
    public void Stores_replaces_and_finds_features_past_the_inline_slots()
    {
        var slots = new FeatureSlots();
        Type[] keys = [typeof(int), typeof(long), typeof(short), typeof(byte), typeof(string), typeof(char), typeof(bool), typeof(double), typeof(float), typeof(decimal)];
        for (int i = 0; i < keys.Length; i++)
        {
            slots.Set(keys[i], i);
        }

        Assert.Equal(keys.Length, slots.Revision);
        for (int i = 0; i < keys.Length; i++)
        {
            Assert.True(slots.TryGet(keys[i], out object? value));
            Assert.Equal(i, value);
        }

        slots.Set(typeof(short), "replaced");   // inline slot
        slots.Set(typeof(decimal), "replaced"); // overflow slot
        Assert.True(slots.TryGet(typeof(short), out object? inline));
        Assert.True(slots.TryGet(typeof(decimal), out object? overflow));
        Assert.Equal("replaced", inline);
        Assert.Equal("replaced", overflow);
        Assert.Equal(keys.Length + 2, slots.Revision);
        Assert.False(slots.TryGet(typeof(Guid), out _));
    }

    [Fact]
    public void A_feature_set_to_null_reads_as_stored_but_is_not_enumerated()
    {
        var slots = new FeatureSlots();
        slots.Set(typeof(int), 1);
        slots.Set(typeof(long), null);

        Assert.True(slots.TryGet(typeof(long), out object? value));
        Assert.Null(value);
        KeyValuePair<Type, object> only = Assert.Single(slots.Snapshot());
        Assert.Equal(typeof(int), only.Key);
    }
}
