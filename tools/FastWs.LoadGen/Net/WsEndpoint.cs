using System.Net;
using System.Net.Security;

namespace FastWs.LoadGen.Net;

/// <summary>Where to connect and what to put in the upgrade request.</summary>
internal sealed class WsEndpoint
{
    public WsEndpoint(Uri uri, IPAddress address, SslClientAuthenticationOptions? tls = null)
    {
        Uri = uri;
        EndPoint = new IPEndPoint(address, uri.Port);
        HostHeader = uri.Authority;
        PathAndQuery = string.IsNullOrEmpty(uri.PathAndQuery) ? "/" : uri.PathAndQuery;
        Tls = tls;
    }

    public Uri Uri { get; }

    public IPEndPoint EndPoint { get; }

    public string HostHeader { get; }

    /// <summary>Path and query of the configured URL, e.g. "/ws".</summary>
    public string PathAndQuery { get; }

    /// <summary>
    /// For <c>wss://</c>: the client TLS settings every connection authenticates with (TLS 1.2/1.3, the trust that
    /// --ca or --insecure chose). Null for <c>ws://</c>, whose connections stay on the bare socket.
    /// </summary>
    public SslClientAuthenticationOptions? Tls { get; }

    /// <summary>The request target with <c>subscribe=a,b</c> appended to the query (FastWs's URL subscriptions).</summary>
    public string WithSubscribeQuery(string channels)
    {
        char separator = PathAndQuery.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return PathAndQuery + separator + "subscribe=" + Uri.EscapeDataString(channels).Replace("%2C", ",", StringComparison.Ordinal).Replace("%3A", ":", StringComparison.Ordinal);
    }
}
