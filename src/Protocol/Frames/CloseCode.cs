namespace FastWs.Protocol.Frames;

/// <summary>Close status codes (RFC 6455 section 7.4 and the IANA registry) and the rules for which may appear on the wire.</summary>
public static class CloseCode
{
    public const ushort NormalClosure = 1000;
    public const ushort GoingAway = 1001;
    public const ushort ProtocolError = 1002;
    public const ushort UnsupportedData = 1003;
    /// <summary>Reported locally when a close frame carried no status code; never sent on the wire.</summary>
    public const ushort NoStatusReceived = 1005;
    /// <summary>Reported locally when the connection dropped without a close frame; never sent on the wire.</summary>
    public const ushort AbnormalClosure = 1006;
    public const ushort InvalidPayloadData = 1007;
    public const ushort PolicyViolation = 1008;
    public const ushort MessageTooBig = 1009;
    public const ushort MandatoryExtension = 1010;
    public const ushort InternalError = 1011;
    public const ushort TryAgainLater = 1013;

    /// <summary>
    /// Whether a peer may send this code in a close frame. The accepted set is 1000-1003, 1007-1011 and the
    /// application/private range 3000-4999: 1004-1006 and 1015 are reserved for local reporting, and everything
    /// below 1000 or in 1012-2999 is unassigned or registry-only, which this server treats as a protocol error.
    /// </summary>
    public static bool IsValidOnWire(ushort code) => code switch
    {
        >= 1000 and <= 1003 => true,
        >= 1007 and <= 1011 => true,
        >= 3000 and <= 4999 => true,
        _ => false,
    };
}
