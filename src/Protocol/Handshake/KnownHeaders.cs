using System.Text;

namespace FastWs.Protocol.Handshake;

/// <summary>Headers the parser gives meaning to.</summary>
internal enum KnownHeader
{
    Other,
    Host,
    Upgrade,
    Connection,
    SecWebSocketKey,
    SecWebSocketVersion,
    SecWebSocketProtocol,
    SecWebSocketExtensions,
    Origin,
    Authorization,
    XForwardedFor,
    ContentLength,
    TransferEncoding,
}

internal static class KnownHeaders
{
    /// <summary>Classifies a header name on its bytes, case-insensitively, so the first pass needs no strings.</summary>
    public static KnownHeader Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        4 when Ascii.EqualsIgnoreCase(name, "host"u8) => KnownHeader.Host,
        6 when Ascii.EqualsIgnoreCase(name, "origin"u8) => KnownHeader.Origin,
        7 when Ascii.EqualsIgnoreCase(name, "upgrade"u8) => KnownHeader.Upgrade,
        10 when Ascii.EqualsIgnoreCase(name, "connection"u8) => KnownHeader.Connection,
        13 when Ascii.EqualsIgnoreCase(name, "authorization"u8) => KnownHeader.Authorization,
        14 when Ascii.EqualsIgnoreCase(name, "content-length"u8) => KnownHeader.ContentLength,
        15 when Ascii.EqualsIgnoreCase(name, "x-forwarded-for"u8) => KnownHeader.XForwardedFor,
        17 when Ascii.EqualsIgnoreCase(name, "sec-websocket-key"u8) => KnownHeader.SecWebSocketKey,
        17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8) => KnownHeader.TransferEncoding,
        21 when Ascii.EqualsIgnoreCase(name, "sec-websocket-version"u8) => KnownHeader.SecWebSocketVersion,
        22 when Ascii.EqualsIgnoreCase(name, "sec-websocket-protocol"u8) => KnownHeader.SecWebSocketProtocol,
        24 when Ascii.EqualsIgnoreCase(name, "sec-websocket-extensions"u8) => KnownHeader.SecWebSocketExtensions,
        _ => KnownHeader.Other,
    };

    /// <summary>Interned spelling for known names, so they cost no allocation per connection.</summary>
    public static string? CanonicalName(KnownHeader header) => header switch
    {
        KnownHeader.Host => "Host",
        KnownHeader.Upgrade => "Upgrade",
        KnownHeader.Connection => "Connection",
        KnownHeader.SecWebSocketKey => "Sec-WebSocket-Key",
        KnownHeader.SecWebSocketVersion => "Sec-WebSocket-Version",
        KnownHeader.SecWebSocketProtocol => "Sec-WebSocket-Protocol",
        KnownHeader.SecWebSocketExtensions => "Sec-WebSocket-Extensions",
        KnownHeader.Origin => "Origin",
        KnownHeader.Authorization => "Authorization",
        KnownHeader.XForwardedFor => "X-Forwarded-For",
        KnownHeader.ContentLength => "Content-Length",
        KnownHeader.TransferEncoding => "Transfer-Encoding",
        _ => null,
    };
}
