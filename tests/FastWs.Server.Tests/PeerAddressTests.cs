using System.Buffers.Binary;
using System.Net;
using FastWs.Server.Limits;
using FastWs.Server.Transport;
using Xunit;

namespace FastWs.Server.Tests;

/// <summary>
/// The peer address an epoll connection keeps as values (its endpoint made only when asked), and the connection
/// limiter handing every connection from one address the same address instance.
/// </summary>
public sealed class PeerAddressTests
{
    private static byte[] SockaddrIn(IPAddress address, int port)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, 2); // AF_INET
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)port);
        address.GetAddressBytes().CopyTo(bytes, 4);
        return bytes;
    }

    private static byte[] SockaddrIn6(IPAddress address, int port)
    {
        var bytes = new byte[28];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, 10); // AF_INET6
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)port);
        address.GetAddressBytes().CopyTo(bytes, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(24), (uint)address.ScopeId);
        return bytes;
    }

    [Theory]
    [InlineData("127.0.0.1", 54321)]
    [InlineData("203.0.113.250", 1)]
    [InlineData("0.0.0.0", 65535)]
    public void An_IPv4_peer_comes_back_as_the_same_endpoint(string address, int port)
    {
        var expected = new IPEndPoint(IPAddress.Parse(address), port);
        PeerAddress peer = PeerAddress.FromSockaddr(SockaddrIn(expected.Address, port));
        Assert.Equal(expected, peer.ToEndPoint());
    }

    [Theory]
    [InlineData("::1", 443)]
    [InlineData("2001:db8::8a2e:370:7334", 60000)]
    [InlineData("::ffff:192.0.2.7", 8080)]
    [InlineData("fe80::1%7", 9)]
    public void An_IPv6_peer_comes_back_with_its_scope(string address, int port)
    {
        var expected = new IPEndPoint(IPAddress.Parse(address), port);
        IPEndPoint? endPoint = PeerAddress.FromSockaddr(SockaddrIn6(expected.Address, port)).ToEndPoint();
        Assert.Equal(expected, endPoint);
        Assert.Equal(expected.Address.ScopeId, endPoint!.Address.ScopeId);
    }

    [Fact]
    public void Each_read_makes_a_new_endpoint_so_none_is_kept()
    {
        PeerAddress peer = PeerAddress.FromSockaddr(SockaddrIn(IPAddress.Loopback, 1000));
        Assert.NotSame(peer.ToEndPoint(), peer.ToEndPoint());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void A_truncated_or_unknown_address_gives_no_endpoint(int length)
    {
        Assert.Null(PeerAddress.FromSockaddr(SockaddrIn(IPAddress.Loopback, 80).AsSpan(0, length)).ToEndPoint());
        Assert.Null(PeerAddress.FromSockaddr(SockaddrIn6(IPAddress.IPv6Loopback, 80).AsSpan(0, 27)).ToEndPoint());
        byte[] unix = SockaddrIn(IPAddress.Loopback, 80);
        unix[0] = 1; // AF_UNIX
        Assert.Null(PeerAddress.FromSockaddr(unix).ToEndPoint());
        Assert.Null(default(PeerAddress).ToEndPoint());
    }

    [Fact]
    public void The_limiter_counts_one_address_under_one_instance_until_its_last_connection_leaves()
    {
        var limiter = new ConnectionLimiter(maxTotal: 0, maxPerIp: 2);
        IPAddress first = IPAddress.Parse("192.0.2.1");
        IPAddress second = IPAddress.Parse("192.0.2.1");
        IPAddress third = IPAddress.Parse("192.0.2.1");

        Assert.True(limiter.TryAcquire(first, out IPAddress counted1, out _));
        Assert.True(limiter.TryAcquire(second, out IPAddress counted2, out _));
        Assert.Same(first, counted1);
        Assert.Same(first, counted2);

        Assert.False(limiter.TryAcquire(third, out IPAddress refused, out string refusal));
        Assert.Same(third, refused);
        Assert.Equal("Too many connections from this IP", refusal);

        limiter.Release(second);
        limiter.Release(counted1);
        Assert.Equal(0, limiter.Total);
        Assert.Equal(0, limiter.DistinctIps);
        Assert.True(limiter.TryAcquire(third, out IPAddress afterwards, out _));
        Assert.Same(third, afterwards);
    }
}
