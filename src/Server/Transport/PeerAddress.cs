using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;

namespace FastWs.Server.Transport;

/// <summary>
/// A connection's peer as accept4 reported it, kept as plain values (24 bytes inside the connection). The
/// <see cref="IPEndPoint"/> and its <see cref="IPAddress"/>, 72 bytes as objects, are made only when asked for,
/// which for a connection past its handshake is never: FastWs reads the peer once, to resolve the client's address.
/// </summary>
internal readonly struct PeerAddress
{
    // The address bytes in network order: IPv4 in the first 4 bytes of _bytes0to7, IPv6 across both.
    private readonly ulong _bytes0to7;
    private readonly ulong _bytes8to15;
    private readonly uint _scopeId;
    private readonly ushort _port;
    private readonly ushort _family;

    private PeerAddress(ReadOnlySpan<byte> address, uint scopeId, ushort port, ushort family)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        address.CopyTo(bytes);
        _bytes0to7 = MemoryMarshal.Read<ulong>(bytes);
        _bytes8to15 = MemoryMarshal.Read<ulong>(bytes[8..]);
        _scopeId = scopeId;
        _port = port;
        _family = family;
    }

    /// <summary>A sockaddr_in or sockaddr_in6; anything else (a truncated or unknown address) gives no peer.</summary>
    public static PeerAddress FromSockaddr(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return default;
        }

        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(sockaddr);
        if (family == Libc.AF_INET && sockaddr.Length >= 8)
        {
            return new PeerAddress(sockaddr.Slice(4, 4), 0, BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]), family);
        }

        if (family == Libc.AF_INET6 && sockaddr.Length >= 28)
        {
            return new PeerAddress(sockaddr.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(sockaddr[24..]),
                BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]), family);
        }

        return default;
    }

    /// <summary>A new endpoint on every call (null when accept4 gave no usable address).</summary>
    public IPEndPoint? ToEndPoint()
    {
        if (_family == 0)
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[16];
        MemoryMarshal.Write(bytes, in _bytes0to7);
        MemoryMarshal.Write(bytes[8..], in _bytes8to15);
        IPAddress address = _family == Libc.AF_INET ? new IPAddress(bytes[..4]) : new IPAddress(bytes, _scopeId);
        return new IPEndPoint(address, _port);
    }
}
