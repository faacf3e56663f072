using System.Net;

namespace FastWs.LoadGen.Net;

/// <summary>Where to connect and what to put in the upgrade request.</summary>
internal sealed class WsEndpoint
{
    public WsEndpoint(Uri uri, IPAddress address)
    {
        Uri = uri;
        EndPoint = new IPEndPoint(address, uri.Port);
        HostHeader = uri.Authority;
        PathAndQuery = string.IsNullOrEmpty(uri.PathAndQuery) ? "/" : uri.PathAndQuery;
    }

    public Uri Uri { get; }

    public IPEndPoint EndPoint { get; }

    public string HostHeader { get; }

    /// <summary>Path and query of the configured URL, e.g. "/ws".</summary>
    public string PathAndQuery { get; }

    /// <summary>The request target with <c>subscribe=a,b</c> appended to the query (FastWs's URL subscriptions).</summary>
    public string WithSubscribeQuery(string channels)
    {
        char separator = PathAndQuery.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return PathAndQuery + separator + "subscribe=" + Uri.EscapeDataString(channels).Replace("%2C", ",", StringComparison.Ordinal).Replace("%3A", ":", StringComparison.Ordinal);
    }
}
