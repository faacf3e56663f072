namespace FastWs.Protocol.Compression;

/// <summary>The server's side of permessage-deflate's negotiation, decided by configuration.</summary>
public sealed class DeflateNegotiationOptions
{
    /// <summary>
    /// Let a client keep its compression context between messages when it wants to. Off by default: the server then
    /// answers <c>client_no_context_takeover</c> to every offer (RFC 7692 section 7.1.1.2 allows it even when not
    /// offered), so it keeps no inflater between a client's messages. Client messages (subscribe, ping) are few and
    /// small, so the context saves little on the wire, while an inflater kept per connection costs about 50 KB
    /// (docs/protocol.md, "Compression").
    /// </summary>
    public bool AllowClientContextTakeover { get; init; }

    public static DeflateNegotiationOptions Default { get; } = new();
}
