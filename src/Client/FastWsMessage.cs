using System.Text.Json;

namespace FastWs.Client;

/// <summary>What an item of a subscription's stream is.</summary>
public enum FastWsMessageKind
{
    /// <summary>A data message of the channel, in order: each <c>Seq</c> once.</summary>
    Data,

    /// <summary>
    /// The stream starts over (the server could not recover what was missed): drop what you hold for the channel.
    /// <see cref="FastWsMessage.Seq"/> is the new position; the snapshot (<see cref="FastWsMessage.IsSnapshot"/>), when the
    /// namespace keeps one, is the next item, then live messages.
    /// </summary>
    Reset,
}

/// <summary>
/// One item of a subscription's stream: a data message as the server sent it (inline or envelope; docs/protocol.md,
/// "Message formats"), or a <see cref="FastWsMessageKind.Reset"/>.
/// </summary>
public sealed class FastWsMessage
{
    private FastWsMessage(FastWsMessageKind kind, string channel, string epoch, long seq, bool snapshot, JsonElement raw, FastWsPosition? previous)
    {
        Kind = kind;
        Channel = channel;
        Epoch = epoch;
        Seq = seq;
        IsSnapshot = snapshot;
        Raw = raw;
        Previous = previous;
    }

    public FastWsMessageKind Kind { get; }

    public string Channel { get; }

    /// <summary>The epoch the <see cref="Seq"/> belongs to.</summary>
    public string Epoch { get; }

    public long Seq { get; }

    /// <summary>The channel's latest message sent on subscribe or after a reset (<c>"snapshot":true</c>).</summary>
    public bool IsSnapshot { get; }

    /// <summary>The whole message as received (<c>default</c> for a reset).</summary>
    public JsonElement Raw { get; }

    /// <summary>For a reset: the position held before it.</summary>
    public FastWsPosition? Previous { get; }

    public FastWsPosition Position => new(Epoch, Seq);

    /// <summary>
    /// The published value: <c>data</c> of an envelope (<c>{"type":"message",...,"data":...}</c>), or the whole inline
    /// object (with its <c>channel</c> and <c>seq</c>).
    /// </summary>
    public JsonElement Data =>
        Raw.ValueKind == JsonValueKind.Object
        && Raw.TryGetProperty("type"u8, out JsonElement type) && type.ValueEquals("message"u8)
        && Raw.TryGetProperty("data"u8, out JsonElement data)
            ? data
            : Raw;

    /// <summary>The published value as <typeparamref name="T"/> (System.Text.Json, web defaults unless <paramref name="options"/> are given).</summary>
    [System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode("Reflection-based JSON; use the JsonTypeInfo overload for trimming.")]
    [System.Diagnostics.CodeAnalysis.RequiresDynamicCode("Reflection-based JSON; use the JsonTypeInfo overload for AOT.")]
    public T? Deserialize<T>(JsonSerializerOptions? options = null) => Data.Deserialize<T>(options ?? JsonSerializerOptions.Web);

    /// <summary>The published value as <typeparamref name="T"/> with source-generated metadata.</summary>
    public T? Deserialize<T>(System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) => Data.Deserialize(typeInfo);

    public override string ToString() => Kind == FastWsMessageKind.Reset ? $"reset {Channel} to {Epoch}/{Seq}" : Raw.GetRawText();

    internal static FastWsMessage FromData(string channel, string epoch, long seq, bool snapshot, JsonElement raw) =>
        new(FastWsMessageKind.Data, channel, epoch, seq, snapshot, raw, null);

    internal static FastWsMessage ForReset(string channel, FastWsPosition position, FastWsPosition? previous) =>
        new(FastWsMessageKind.Reset, channel, position.Epoch, position.Seq, false, default, previous);
}
