using FastWs.Protocol.Compression;

namespace FastWs.Protocol.Tests.Compression;

/// <summary>RFC 7692 sections 5 and 7.1: which offer the server accepts and what it answers.</summary>
public class NegotiationTests
{
    private const string Base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    private const string WithTakeover = "permessage-deflate; server_no_context_takeover";

    private static readonly DeflateNegotiationOptions AllowTakeover = new() { AllowClientContextTakeover = true };

    /// <summary>Offer → response, with the server's default (it asks for client_no_context_takeover).</summary>
    public static TheoryData<string, string> Accepted => new()
    {
        { "permessage-deflate", Base },
        // Chromium and Firefox
        { "permessage-deflate; client_max_window_bits", Base },
        { "permessage-deflate; client_max_window_bits=10", Base + "; client_max_window_bits=10" },
        { "permessage-deflate; client_max_window_bits=\"12\"", Base + "; client_max_window_bits=12" },
        { "permessage-deflate; client_max_window_bits=8", Base + "; client_max_window_bits=8" },
        { "permessage-deflate; server_no_context_takeover", Base },
        { "permessage-deflate; client_no_context_takeover", Base },
        { "permessage-deflate; server_max_window_bits=8", Base + "; server_max_window_bits=8" },
        { "permessage-deflate; server_max_window_bits=15", Base + "; server_max_window_bits=15" },
        { "permessage-deflate; server_max_window_bits=\"11\"", Base + "; server_max_window_bits=11" },
        // .NET's ClientWebSocket with DangerousDeflateOptions { ClientMaxWindowBits = 14, ServerMaxWindowBits = 13 }
        { "permessage-deflate; client_max_window_bits=14; server_max_window_bits=13", Base + "; server_max_window_bits=13; client_max_window_bits=14" },
        { "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9", Base + "; server_max_window_bits=9; client_max_window_bits=9" },
        // Parameter order and case do not matter; whitespace around '=' is allowed.
        { "PerMessage-Deflate; Client_Max_Window_Bits = 11 ;SERVER_NO_CONTEXT_TAKEOVER", Base + "; client_max_window_bits=11" },
        // Unknown extensions are ignored, before or after.
        { "x-webkit-deflate-frame, permessage-deflate, foo; bar=1", Base },
        // The first acceptable offer wins; unacceptable ones before it are skipped.
        { "permessage-deflate; unknown_param, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=9", Base + "; client_max_window_bits=9" },
        { "permessage-deflate; server_max_window_bits=10, permessage-deflate", Base + "; server_max_window_bits=10" },
        // Empty elements of the list are fine.
        { ", permessage-deflate,", Base },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Acceptable_offers_get_the_expected_response(string offer, string response)
    {
        Assert.True(PerMessageDeflateNegotiation.TryNegotiate(offer, null, out DeflateParameters accepted));
        Assert.True(accepted.IsEnabled);
        Assert.True(accepted.ServerNoContextTakeover);
        Assert.True(accepted.ClientNoContextTakeover);
        Assert.Equal(response, accepted.ToResponseHeader());
    }

    public static TheoryData<string> Declined => new()
    {
        "",
        "x-webkit-deflate-frame",
        "deflate-frame; permessage-deflate",
        "permessage-deflate; unknown",
        "permessage-deflate; unknown=1",
        // duplicated parameters
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        // values where none belongs
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        // server_max_window_bits needs a value
        "permessage-deflate; server_max_window_bits",
        // bad window values: outside 8-15, leading zeros, not decimal, empty
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=0",
        "permessage-deflate; server_max_window_bits=\"\"",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        // not well formed
        "permessage-deflate; client_max_window_bits=\"10",
        "permessage-deflate;",
        "permessage-deflate; =10",
    };

    [Theory]
    [MemberData(nameof(Declined))]
    public void Unacceptable_offers_are_declined(string offer)
    {
        Assert.False(PerMessageDeflateNegotiation.TryNegotiate(offer, null, out DeflateParameters accepted));
        Assert.False(accepted.IsEnabled);
        Assert.Null(accepted.ToResponseHeader());
    }

    [Fact]
    public void No_header_means_no_extension()
    {
        Assert.False(PerMessageDeflateNegotiation.TryNegotiate(null, null, out DeflateParameters accepted));
        Assert.Equal(default, accepted);
        Assert.Equal(0, accepted.ServerMaxWindowBits);
    }

    [Theory]
    [InlineData("permessage-deflate", WithTakeover, false)]
    [InlineData("permessage-deflate; client_max_window_bits", WithTakeover, false)]
    [InlineData("permessage-deflate; client_no_context_takeover", Base, true)]
    [InlineData("permessage-deflate; client_max_window_bits=10", WithTakeover + "; client_max_window_bits=10", false)]
    public void With_client_context_takeover_allowed_the_client_chooses(string offer, string response, bool clientNoContextTakeover)
    {
        Assert.True(PerMessageDeflateNegotiation.TryNegotiate(offer, AllowTakeover, out DeflateParameters accepted));
        Assert.Equal(response, accepted.ToResponseHeader());
        Assert.Equal(clientNoContextTakeover, accepted.ClientNoContextTakeover);
        Assert.True(accepted.ServerNoContextTakeover);
    }

    [Theory]
    [InlineData("permessage-deflate", 15, 15, 15)]
    [InlineData("permessage-deflate; client_max_window_bits", 15, 15, 15)]
    [InlineData("permessage-deflate; client_max_window_bits=9; server_max_window_bits=12", 12, 12, 9)]
    [InlineData("permessage-deflate; server_max_window_bits=9", 9, 9, 15)]
    // zlib cannot compress raw DEFLATE with an 8-bit window; 9 stays within 8's 256 bytes (see MinCompressorWindowBits).
    [InlineData("permessage-deflate; server_max_window_bits=8", 8, 9, 15)]
    public void Window_bits_are_recorded(string offer, int serverBits, int compressorBits, int clientBits)
    {
        DeflateParameters accepted = Deflate.Negotiated(offer);
        Assert.Equal(serverBits, accepted.ServerMaxWindowBits);
        Assert.Equal(compressorBits, accepted.ServerCompressorWindowBits);
        Assert.Equal(clientBits, accepted.ClientMaxWindowBits);
    }

    [Fact]
    public void Every_window_size_from_8_to_15_is_accepted_for_both_sides()
    {
        for (int bits = 8; bits <= 15; bits++)
        {
            DeflateParameters accepted = Deflate.Negotiated($"permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}");
            Assert.Equal(bits, accepted.ServerMaxWindowBits);
            Assert.Equal(bits, accepted.ClientMaxWindowBits);
            Assert.Equal($"{Base}; server_max_window_bits={bits}; client_max_window_bits={bits}", accepted.ToResponseHeader());
        }
    }
}
