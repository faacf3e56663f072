using System.Text.Json;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>Checks of the server's acks whose exact text cannot be known in advance (positions carry random epochs).</summary>
internal static class Acks
{
    /// <summary>
    /// Checks a <c>subscribed</c> ack: its channels in order, its id (raw JSON, or none), and a position
    /// (<c>{"epoch":"...","seq":N}</c>) for every channel. Returns the parsed ack.
    /// </summary>
    public static JsonElement AssertSubscribed(string text, string[] channels, string? rawId = null)
    {
        using JsonDocument document = JsonDocument.Parse(text);
        JsonElement ack = document.RootElement.Clone();
        Assert.Equal("subscribed", ack.GetProperty("type").GetString());
        Assert.Equal(channels, ack.GetProperty("channels").EnumerateArray().Select(c => c.GetString()!));
        if (rawId is null)
        {
            Assert.False(ack.TryGetProperty("id", out _), $"no id expected: {text}");
        }
        else
        {
            Assert.Equal(rawId, ack.GetProperty("id").GetRawText());
        }

        JsonElement positions = ack.GetProperty("positions");
        foreach (string channel in channels)
        {
            JsonElement position = positions.GetProperty(channel);
            Assert.False(string.IsNullOrEmpty(position.GetProperty("epoch").GetString()));
            Assert.True(position.GetProperty("seq").GetInt64() >= 0);
        }

        return ack;
    }
}
