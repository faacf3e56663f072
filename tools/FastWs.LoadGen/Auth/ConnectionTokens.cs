using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastWs.LoadGen.Auth;

/// <summary>
/// One connection's token in the form its placement needs, built before the ramp so that opening a connection
/// only copies bytes: the raw token for the header, the percent-encoded one for the URL, or the whole auth message.
/// </summary>
internal sealed class PreparedToken
{
    private PreparedToken(TokenPlacement placement, string? requestText, byte[]? authMessage)
    {
        Placement = placement;
        RequestText = requestText;
        AuthMessage = authMessage;
    }

    public TokenPlacement Placement { get; }

    /// <summary>Header: the token; url: the token percent-encoded for the query; message: null.</summary>
    public string? RequestText { get; }

    /// <summary>Message: the UTF-8 payload <c>{"type":"auth","token":"JWT"}</c>; otherwise null.</summary>
    public byte[]? AuthMessage { get; }

    public static PreparedToken Create(string token, TokenPlacement placement) => placement switch
    {
        TokenPlacement.Url => new PreparedToken(placement, Uri.EscapeDataString(token), null),
        TokenPlacement.Message => new PreparedToken(placement, null, AuthMessageFor(token)),
        _ => new PreparedToken(placement, token, null),
    };

    private static byte[] AuthMessageFor(string token)
    {
        using var buffer = new MemoryStream(token.Length + 32);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("type", "auth");
            json.WriteString("token", token);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}

/// <summary>
/// The prepared tokens of a run. Connection i (subscriber or churn cycle number i ≥ 0) gets token i mod N;
/// publisher p (connection id −1 − p) counts as connection <c>subscriberSlots + p</c>, so with minted tokens
/// the publishers have subjects of their own after the subscribers'.
/// </summary>
internal sealed class ConnectionTokens
{
    private readonly PreparedToken[] _tokens;
    private readonly int _subscriberSlots;

    private ConnectionTokens(PreparedToken[] tokens, int subscriberSlots)
    {
        _tokens = tokens;
        _subscriberSlots = subscriberSlots;
    }

    public int Count => _tokens.Length;

    /// <summary>
    /// Prepares the tokens of <paramref name="plan"/>: minted ones for <paramref name="subscriberSlots"/> +
    /// <paramref name="publisherSlots"/> connections, given ones as they are. Null without tokens.
    /// </summary>
    public static ConnectionTokens? Prepare(TokenPlan plan, int subscriberSlots, int publisherSlots, DateTime now)
    {
        if (plan.Kind == TokenKind.None)
        {
            return null;
        }

        IReadOnlyList<string> raw = plan.Mint is { } mint
            ? TokenMinter.Mint(plan.Kind, mint, Math.Max(1, subscriberSlots + publisherSlots), now)
            : plan.Tokens;
        var prepared = new PreparedToken[raw.Count];
        for (int i = 0; i < prepared.Length; i++)
        {
            prepared[i] = PreparedToken.Create(raw[i], plan.Placement);
        }

        return new ConnectionTokens(prepared, subscriberSlots);
    }

    /// <summary>The token of connection <paramref name="connectionId"/> (negative ids are publishers, see the class summary).</summary>
    public PreparedToken For(int connectionId)
    {
        long slot = connectionId >= 0 ? connectionId : _subscriberSlots + (-1L - connectionId);
        return _tokens[slot % _tokens.Length];
    }
}
