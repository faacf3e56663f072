using System.Text.Json;
using Microsoft.AspNetCore.SignalR;

namespace FastWs.Baseline.SignalR;

/// <summary>
/// The FastWs workload in SignalR's own terms: a channel is a group. <c>Subscribe(channel)</c> joins it (the
/// invocation's completion is the ack), <c>Publish(channel, data)</c> sends <c>message(channel, data)</c> to the group.
/// With the Redis backplane the group send goes through Redis to every node with members in the group.
/// </summary>
internal sealed class PubSubHub : Hub
{
    /// <summary>Joins the channel's group; returns the channel, so the completion names what was acked.</summary>
    public async Task<string> Subscribe(string channel)
    {
        ChannelName.Check(channel);
        await Groups.AddToGroupAsync(Context.ConnectionId, channel);
        return channel;
    }

    public async Task<string> Unsubscribe(string channel)
    {
        ChannelName.Check(channel);
        await Groups.RemoveFromGroupAsync(Context.ConnectionId, channel);
        return channel;
    }

    /// <summary>
    /// Sends <paramref name="data"/> to every member of the channel's group, on every node. The JSON hub protocol
    /// writes the <see cref="JsonElement"/> back as the JSON it was parsed from, so the tool's timestamp comes through.
    /// </summary>
    public Task Publish(string channel, JsonElement data)
    {
        ChannelName.Check(channel);
        return Clients.Group(channel).SendAsync("message", channel, data);
    }
}
