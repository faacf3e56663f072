using System.Text.Json;
using FastWs.Protocol.Frames;

namespace FastWs.Server.Messages;

/// <summary>
/// Encodes server replies (acks, errors, pong) as complete text frames. One encoder per thread is reused, so
/// connections hold no encoder of their own and replies allocate nothing; <see cref="Utf8JsonWriter"/> does the
/// JSON escaping of anything that came from a client.
/// </summary>
internal sealed class ReplyEncoder
{
    [ThreadStatic]
    private static ReplyEncoder? t_instance;

    // Replies are read by programs, not embedded in HTML: the relaxed encoder still escapes quotes, backslashes and
    // control characters, but leaves ' < > & + as they are, so "quota 'intent'" reads as written.
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly FrameBuilder _frame = new(512);
    private readonly Utf8JsonWriter _json;

    private ReplyEncoder()
    {
        _json = new Utf8JsonWriter(_frame, WriterOptions);
    }

    /// <summary>
    /// Starts a reply on this thread's encoder. The result must be completed before the thread awaits anything.
    /// </summary>
    public static Utf8JsonWriter Begin()
    {
        ReplyEncoder encoder = t_instance ??= new ReplyEncoder();
        encoder._frame.Reset();
        encoder._json.Reset(encoder._frame);
        return encoder._json;
    }

    /// <summary>Finishes the reply begun on this thread and returns the frame (valid until the next Begin).</summary>
    public static ReadOnlySpan<byte> Complete()
    {
        ReplyEncoder encoder = t_instance!;
        encoder._json.Flush();
        return encoder._frame.Complete(WebSocketOpcode.Text).Span;
    }

    /// <summary>The protocol name the <c>connected</c> message announces.</summary>
    public const string ProtocolName = "fastws.v1";

    /// <summary><c>{"type":"connected","connectionId":"17-3","protocol":"fastws.v1","user":"0x..."}</c>: the first message after the upgrade.</summary>
    public static ReadOnlySpan<byte> Connected(string connectionId, string? user)
    {
        Utf8JsonWriter json = Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "connected"u8);
        json.WriteString("connectionId"u8, connectionId);
        json.WriteString("protocol"u8, ProtocolName);
        if (user is not null)
        {
            json.WriteString("user"u8, user);
        }

        json.WriteEndObject();
        return Complete();
    }

    /// <summary><c>{"type":"gap","channel":"trades:SOL","from":A,"to":B}</c>: messages A..B were skipped for this client.</summary>
    public static ReadOnlySpan<byte> Gap(string channel, long from, long to)
    {
        Utf8JsonWriter json = Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "gap"u8);
        json.WriteString("channel"u8, channel);
        json.WriteNumber("from"u8, from);
        if (to == Connections.StreamMarks.UnknownEnd)
        {
            json.WriteNull("to"u8); // the stream restarted in a new epoch: how much was missed is not known
        }
        else
        {
            json.WriteNumber("to"u8, to);
        }
        json.WriteEndObject();
        return Complete();
    }

    public static ReadOnlySpan<byte> Pong()
    {
        Utf8JsonWriter json = Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "pong"u8);
        json.WriteEndObject();
        return Complete();
    }

    public static ReadOnlySpan<byte> Error(string code, string message, ReadOnlySpan<char> channel, ReadOnlySpan<byte> rawId)
    {
        Utf8JsonWriter json = Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "error"u8);
        json.WriteString("code"u8, code);
        json.WriteString("message"u8, message);
        if (!channel.IsEmpty)
        {
            json.WriteString("channel"u8, channel);
        }

        WriteId(json, rawId);
        json.WriteEndObject();
        return Complete();
    }

    /// <summary>Writes <c>"id":raw</c> when the request carried an id. The raw value was validated by the parser.</summary>
    public static void WriteId(Utf8JsonWriter json, ReadOnlySpan<byte> rawId)
    {
        if (!rawId.IsEmpty)
        {
            json.WritePropertyName("id"u8);
            json.WriteRawValue(rawId, skipInputValidation: true);
        }
    }
}
