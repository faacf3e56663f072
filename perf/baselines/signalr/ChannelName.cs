using Microsoft.AspNetCore.SignalR;

namespace FastWs.Baseline.SignalR;

/// <summary>FastWs's channel alphabet (<c>[A-Za-z0-9_.:-]</c>, 1-128 characters), as the other baselines check it.</summary>
internal static class ChannelName
{
    public static void Check(string? channel)
    {
        if (string.IsNullOrEmpty(channel) || channel.Length > 128 || !channel.All(IsAllowed))
        {
            // A HubException's message reaches the caller in the completion's "error" (other exceptions are hidden).
            throw new HubException("invalid_channel: names are 1-128 characters of [A-Za-z0-9_.:-]");
        }
    }

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '-';
}
