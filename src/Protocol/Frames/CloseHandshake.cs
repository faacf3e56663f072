namespace FastWs.Protocol.Frames;

/// <summary>Which side sent the first close frame.</summary>
public enum CloseInitiator
{
    None,
    Local,
    Remote,
}

/// <summary>What the connection must do after a close frame arrives.</summary>
public readonly record struct CloseResponse(bool SendClose, ushort Code, bool CloseTransport);

/// <summary>
/// The close handshake of RFC 6455 section 7, as plain state: who closed first, with which code and reason,
/// and what must be answered. A connection sends at most one close frame and, after receiving one, nothing
/// but its own close; once both have been exchanged the server (which should close TCP first, 7.1.1) closes it.
/// </summary>
public sealed class CloseHandshake
{
    public CloseInitiator Initiator { get; private set; }

    public bool CloseSent { get; private set; }

    public bool CloseReceived { get; private set; }

    public ushort SentCode { get; private set; }

    public string SentReason { get; private set; } = string.Empty;

    /// <summary>The peer's code, or 1005 when its close frame had none.</summary>
    public ushort ReceivedCode { get; private set; }

    public string ReceivedReason { get; private set; } = string.Empty;

    /// <summary>Both close frames have been exchanged.</summary>
    public bool IsComplete => CloseSent && CloseReceived;

    /// <summary>
    /// When this side's close frame went out, as the caller's clock reads it (any unit; 0 = not recorded). The
    /// handshake only keeps the number, for a caller that gives the peer a limited time to answer.
    /// </summary>
    public long LocalCloseSentAt { get; set; }

    /// <summary>No data frames may be sent once our close is out (RFC 6455 5.5.1).</summary>
    public bool CanSendData => !CloseSent;

    /// <summary>
    /// Records that this side is about to send a close frame. Returns false (send nothing) if a close was
    /// already sent: a second close frame would be a protocol error.
    /// </summary>
    public bool TryStartLocalClose(ushort code, string reason)
    {
        if (CloseSent)
        {
            return false;
        }

        CloseSent = true;
        SentCode = code;
        SentReason = reason ?? string.Empty;
        if (Initiator == CloseInitiator.None)
        {
            Initiator = CloseInitiator.Local;
        }

        return true;
    }

    /// <summary>
    /// Records the peer's close frame and says what to do: if the peer closed first, echo its code (1000 when it
    /// sent none) and then close the transport; if we closed first, the handshake is done and the transport closes.
    /// </summary>
    public CloseResponse OnRemoteClose(ushort code, string reason)
    {
        if (CloseReceived)
        {
            return new CloseResponse(false, 0, CloseTransport: true);
        }

        CloseReceived = true;
        ReceivedCode = code;
        ReceivedReason = reason ?? string.Empty;
        if (Initiator == CloseInitiator.None)
        {
            Initiator = CloseInitiator.Remote;
        }

        if (CloseSent)
        {
            return new CloseResponse(false, 0, CloseTransport: true);
        }

        ushort reply = code == CloseCode.NoStatusReceived ? CloseCode.NormalClosure : code;
        TryStartLocalClose(reply, string.Empty);
        return new CloseResponse(true, reply, CloseTransport: true);
    }
}
