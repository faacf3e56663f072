using FastWs.Protocol.Compression;

namespace FastWs.Protocol.Tests.Compression;

/// <summary>The Sec-WebSocket-Extensions grammar of RFC 6455 section 9.1, as <see cref="ExtensionHeader"/> reads it.</summary>
public class ExtensionHeaderTests
{
    [Fact]
    public void Several_offers_with_parameters_keep_their_order()
    {
        List<ExtensionOffer> offers = ExtensionHeader.Parse(
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, permessage-deflate;client_max_window_bits, x-webkit-deflate-frame");

        Assert.Equal(3, offers.Count);
        Assert.Equal("permessage-deflate", offers[0].Name);
        Assert.Equal([new ExtensionParameter("client_max_window_bits", "10"), new ExtensionParameter("server_no_context_takeover", null)], offers[0].Parameters);
        Assert.Equal([new ExtensionParameter("client_max_window_bits", null)], offers[1].Parameters);
        Assert.Equal("x-webkit-deflate-frame", offers[2].Name);
        Assert.Empty(offers[2].Parameters);
        Assert.All(offers, o => Assert.True(o.IsWellFormed));
    }

    [Fact]
    public void Quoted_values_are_unquoted_and_their_commas_and_semicolons_do_not_split()
    {
        List<ExtensionOffer> offers = ExtensionHeader.Parse("a; p=\"1,2;3\"; q = \"x\\\"y\" , b");

        Assert.Equal(["a", "b"], offers.Select(o => o.Name));
        Assert.Equal([new ExtensionParameter("p", "1,2;3"), new ExtensionParameter("q", "x\"y")], offers[0].Parameters);
    }

    [Fact]
    public void Empty_list_elements_and_whitespace_are_ignored()
    {
        List<ExtensionOffer> offers = ExtensionHeader.Parse(" , permessage-deflate ,\t,  ");
        ExtensionOffer offer = Assert.Single(offers);
        Assert.Equal("permessage-deflate", offer.Name);
    }

    [Theory]
    [InlineData("permessage-deflate; client_max_window_bits=\"10")] // unterminated quote
    [InlineData("permessage-deflate; client_max_window_bits=\"10\"x")] // text after the closing quote
    [InlineData("permessage-deflate; =10")] // no parameter name
    [InlineData("permessage-deflate; a b")] // space inside a token
    [InlineData("permessage-deflate; p=a/b")] // separator in a token value
    [InlineData("permessage-deflate; ")] // empty parameter
    public void Malformed_parameters_keep_the_name_but_mark_the_offer(string header)
    {
        ExtensionOffer offer = Assert.Single(ExtensionHeader.Parse(header));
        Assert.Equal("permessage-deflate", offer.Name);
        Assert.False(offer.IsWellFormed);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("\"quoted\"")]
    [InlineData("a b; c")]
    public void Elements_without_a_valid_name_are_passed_over(string? header)
    {
        Assert.Empty(ExtensionHeader.Parse(header));
    }

    [Fact]
    public void A_bad_element_does_not_hide_the_next_one()
    {
        List<ExtensionOffer> offers = ExtensionHeader.Parse("bad name, permessage-deflate; x=\"a,b\", other");
        Assert.Equal(["permessage-deflate", "other"], offers.Select(o => o.Name));
    }
}
