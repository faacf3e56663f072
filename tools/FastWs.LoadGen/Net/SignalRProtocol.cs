using System.Text;

namespace FastWs.LoadGen.Net;

/// <summary>What a SignalR hub message is, from its <c>"type"</c> number (HubProtocol.md, JSON encoding).</summary>
internal enum SignalRMessageKind
{
    /// <summary>The answer to the handshake: <c>{}</c>, or <c>{"error":"..."}</c> when refused.</summary>
    Handshake,

    /// <summary>1: a hub invocation; from the anchor server, <c>message(channel, data)</c>, the tool's data.</summary>
    Invocation,

    /// <summary>3: the completion of an invocation with an id (the subscribe's ack, or its <c>"error"</c>).</summary>
    Completion,

    /// <summary>6: keep-alive.</summary>
    Ping,

    /// <summary>7: the server closes the connection (with an <c>"error"</c> when it failed).</summary>
    Close,

    /// <summary>Streams (2, 4, 5), acks and sequences (8, 9): nothing the anchor sends.</summary>
    Other,
}

/// <summary>
/// ASP.NET Core SignalR's JSON hub protocol, as much as the fanout scenario needs to measure SignalR as users run it:
/// a WebSocket straight to the hub (no negotiate request, as the clients' <c>skipNegotiation</c> does), the handshake
/// <c>{"protocol":"json","version":1}</c>, invocations <c>{"type":1,...}</c>; every record ends with 0x1E, and one
/// WebSocket message may hold several.
/// </summary>
internal static class SignalRProtocol
{
    /// <summary>The record separator after every JSON hub message.</summary>
    public const byte RecordSeparator = 0x1E;

    /// <summary>The first thing a client sends: JSON hub protocol, version 1.</summary>
    public static ReadOnlyMemory<byte> Handshake { get; } = Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e");

    /// <summary>The invocation the publisher sends per message: <c>Publish(channel, data)</c>, without an id (no completion).</summary>
    public static byte[] PublishPrefix(string channel) =>
        Encoding.UTF8.GetBytes("{\"type\":1,\"target\":\"Publish\",\"arguments\":[\"" + channel + "\",");

    /// <summary>Closes what <see cref="PublishPrefix"/> opened, with the record separator.</summary>
    public static ReadOnlySpan<byte> PublishSuffix => "]}\u001e"u8;

    /// <summary><c>Subscribe(channel)</c> with an invocation id, so the server answers with a completion: the ack.</summary>
    public static byte[] Subscribe(string channel, int invocationId) =>
        Encoding.UTF8.GetBytes("{\"type\":1,\"invocationId\":\"" + invocationId.ToString(System.Globalization.CultureInfo.InvariantCulture)
            + "\",\"target\":\"Subscribe\",\"arguments\":[\"" + channel + "\"]}\u001e");

    /// <summary>Classifies one record (without its separator); <paramref name="handshakeDone"/> false: it is the handshake answer.</summary>
    public static SignalRMessageKind Classify(ReadOnlySpan<byte> record, bool handshakeDone)
    {
        if (!handshakeDone)
        {
            return SignalRMessageKind.Handshake;
        }

        if (!ProtocolText.TryReadLong(record, "\"type\""u8, out long type))
        {
            return SignalRMessageKind.Other;
        }

        return type switch
        {
            1 => SignalRMessageKind.Invocation,
            3 => SignalRMessageKind.Completion,
            6 => SignalRMessageKind.Ping,
            7 => SignalRMessageKind.Close,
            _ => SignalRMessageKind.Other,
        };
    }

    /// <summary>The <c>"error"</c> of a handshake answer, completion or close, or null.</summary>
    public static string? Error(ReadOnlySpan<byte> record) => ProtocolText.ReadString(record, "\"error\""u8, 200);
}
