namespace FastWs.Protocol.Handshake;

/// <summary>Outcome of <see cref="UpgradeRequestParser.TryParse"/>.</summary>
public enum UpgradeParseStatus
{
    /// <summary>The blank line ending the headers has not arrived yet; call again with more bytes.</summary>
    Incomplete,

    /// <summary>A valid WebSocket upgrade request was parsed.</summary>
    Complete,

    /// <summary>The request can never become valid; answer with the rejection and close.</summary>
    Rejected,
}
