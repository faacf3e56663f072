using System.Text.Json;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;

namespace FastWs.Server.Publishing;

/// <summary>
/// Typed events for hosts that embed the server (<c>server.Events</c>): prices, trades and funding rates per slab,
/// intent updates, market data, system alerts and direct messages to one user. Each method checks its input
/// (throwing <see cref="ArgumentException"/>), writes the event with <see cref="Utf8JsonWriter"/> into this
/// thread's reused buffer, builds the channel name on the stack and hands both to <see cref="MessagePublisher"/>:
/// nothing is allocated per call once the thread's writer exists. The shapes are in docs/protocol.md ("Typed events").
/// </summary>
public sealed class TypedPublisher
{
    private readonly MessagePublisher _publisher;

    internal TypedPublisher(MessagePublisher publisher)
    {
        _publisher = publisher;
    }

    /// <summary><c>{"type":"price","slab":"SOL","price":1.5,"markPrice":1.51,"indexPrice":1.49,"timestamp":1732252800123}</c> on <c>price:&lt;slab&gt;</c>.</summary>
    public ValueTask<PublishResult> PublishPriceAsync(string slab, double price, double markPrice, double indexPrice, long timestampMs,
        CancellationToken cancellationToken = default)
    {
        Span<char> channel = stackalloc char[ChannelName.MaxLength];
        channel = BuildChannel(channel, "price:", slab, nameof(slab));
        EnsureFinite(price, nameof(price));
        EnsureFinite(markPrice, nameof(markPrice));
        EnsureFinite(indexPrice, nameof(indexPrice));

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "price"u8);
        json.WriteString("slab"u8, slab);
        json.WriteNumber("price"u8, price);
        json.WriteNumber("markPrice"u8, markPrice);
        json.WriteNumber("indexPrice"u8, indexPrice);
        json.WriteNumber("timestamp"u8, timestampMs);
        json.WriteEndObject();
        return Publish(channel, cancellationToken);
    }

    /// <summary><c>{"type":"trade","slab":"SOL","side":"buy","size":2.5,"price":150.1,"timestamp":...}</c> on <c>trades:&lt;slab&gt;</c>.</summary>
    public ValueTask<PublishResult> PublishTradeAsync(string slab, TradeSide side, double size, double price, long timestampMs,
        CancellationToken cancellationToken = default)
    {
        Span<char> channel = stackalloc char[ChannelName.MaxLength];
        channel = BuildChannel(channel, "trades:", slab, nameof(slab));
        ReadOnlySpan<byte> sideText = side switch
        {
            TradeSide.Buy => "buy"u8,
            TradeSide.Sell => "sell"u8,
            _ => throw new ArgumentOutOfRangeException(nameof(side), side, "Not a trade side."),
        };
        EnsureFinite(size, nameof(size));
        EnsureFinite(price, nameof(price));

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "trade"u8);
        json.WriteString("slab"u8, slab);
        json.WriteString("side"u8, sideText);
        json.WriteNumber("size"u8, size);
        json.WriteNumber("price"u8, price);
        json.WriteNumber("timestamp"u8, timestampMs);
        json.WriteEndObject();
        return Publish(channel, cancellationToken);
    }

    /// <summary><c>{"type":"funding","slab":"SOL","rate":0.0001,"timestamp":...}</c> on <c>funding:&lt;slab&gt;</c>.</summary>
    public ValueTask<PublishResult> PublishFundingAsync(string slab, double rate, long timestampMs, CancellationToken cancellationToken = default)
    {
        Span<char> channel = stackalloc char[ChannelName.MaxLength];
        channel = BuildChannel(channel, "funding:", slab, nameof(slab));
        EnsureFinite(rate, nameof(rate));

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "funding"u8);
        json.WriteString("slab"u8, slab);
        json.WriteNumber("rate"u8, rate);
        json.WriteNumber("timestamp"u8, timestampMs);
        json.WriteEndObject();
        return Publish(channel, cancellationToken);
    }

    /// <summary>
    /// <c>{"type":"intent_update","intentId":"...","status":"...","details":{...}}</c> on <c>intent:&lt;intentId&gt;</c>;
    /// <c>details</c> only when <paramref name="detailsJson"/> is given, and then it must be one JSON value.
    /// </summary>
    public ValueTask<PublishResult> PublishIntentUpdateAsync(string intentId, string status, ReadOnlySpan<byte> detailsJson = default,
        CancellationToken cancellationToken = default)
    {
        Span<char> channel = stackalloc char[ChannelName.MaxLength];
        channel = BuildChannel(channel, "intent:", intentId, nameof(intentId));
        ArgumentNullException.ThrowIfNull(status);
        bool hasDetails = !detailsJson.IsEmpty;
        if (hasDetails)
        {
            EnsureJson(detailsJson, nameof(detailsJson));
        }

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "intent_update"u8);
        json.WriteString("intentId"u8, intentId);
        json.WriteString("status"u8, status);
        if (hasDetails)
        {
            json.WritePropertyName("details"u8);
            json.WriteRawValue(detailsJson, skipInputValidation: true);
        }

        json.WriteEndObject();
        return Publish(channel, cancellationToken);
    }

    /// <summary><c>{"type":"market_data","data":&lt;payload&gt;,"timestamp":...}</c> on <c>market_data</c>; the payload must be one JSON value.</summary>
    public ValueTask<PublishResult> PublishMarketDataAsync(ReadOnlySpan<byte> payloadJson, long timestampMs, CancellationToken cancellationToken = default)
    {
        EnsureJson(payloadJson, nameof(payloadJson));

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "market_data"u8);
        json.WritePropertyName("data"u8);
        json.WriteRawValue(payloadJson, skipInputValidation: true);
        json.WriteNumber("timestamp"u8, timestampMs);
        json.WriteEndObject();
        return Publish("market_data", cancellationToken);
    }

    /// <summary>
    /// <c>{"type":"system_alert","kind":"...","message":"...","severity":"info","timestamp":...}</c> on <c>system_alerts</c>
    /// (the intents backend's <c>broadcast_system_alert</c>).
    /// </summary>
    public ValueTask<PublishResult> BroadcastSystemAlertAsync(string kind, string message, AlertSeverity severity, long timestampMs,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(message);
        ReadOnlySpan<byte> severityText = severity switch
        {
            AlertSeverity.Info => "info"u8,
            AlertSeverity.Warning => "warning"u8,
            AlertSeverity.Critical => "critical"u8,
            _ => throw new ArgumentOutOfRangeException(nameof(severity), severity, "Not an alert severity."),
        };

        Utf8JsonWriter json = EventEncoder.Begin();
        json.WriteStartObject();
        json.WriteString("type"u8, "system_alert"u8);
        json.WriteString("kind"u8, kind);
        json.WriteString("message"u8, message);
        json.WriteString("severity"u8, severityText);
        json.WriteNumber("timestamp"u8, timestampMs);
        json.WriteEndObject();
        return Publish("system_alerts", cancellationToken);
    }

    /// <summary>
    /// Publishes <paramref name="json"/> to <c>user:&lt;userId&gt;</c>: every connection of that user subscribed to its own
    /// channel gets it (the intents backend's <c>send_to_connection</c>). With the <c>user</c> namespace's default
    /// format (Inline) it must be a JSON object, which goes out with <c>channel</c> and <c>seq</c> appended (otherwise
    /// the result is <see cref="PublishOutcome.NotAnObject"/>); with the envelope any JSON value goes out as its data.
    /// </summary>
    public ValueTask<PublishResult> SendToUserAsync(string userId, ReadOnlySpan<byte> json, CancellationToken cancellationToken = default)
    {
        Span<char> channel = stackalloc char[ChannelName.MaxLength];
        channel = BuildChannel(channel, "user:", userId, nameof(userId));
        EnsureJson(json, nameof(json));
        return _publisher.PublishValidatedAsync(channel, json, cancellationToken);
    }

    /// <summary>
    /// Publishes what this thread's writer holds. PublishValidatedAsync copies the data into a pooled buffer before it
    /// returns (before any await), so the writer may be reused by the next call on this thread even while the returned
    /// ValueTask is still pending (a full queue).
    /// </summary>
    private ValueTask<PublishResult> Publish(ReadOnlySpan<char> channel, CancellationToken cancellationToken) =>
        _publisher.PublishValidatedAsync(channel, EventEncoder.Complete(), cancellationToken);

    /// <summary>Writes prefix + key into <paramref name="destination"/> and checks that the result is a valid channel name.</summary>
    private static Span<char> BuildChannel(Span<char> destination, string prefix, string key, string paramName)
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        int length = prefix.Length + key.Length;
        if (key.Length == 0 || length > destination.Length)
        {
            throw new ArgumentException($"'{prefix}{key}' is not a valid channel name (1 to {ChannelName.MaxLength} characters).", paramName);
        }

        prefix.CopyTo(destination);
        key.CopyTo(destination[prefix.Length..]);
        Span<char> channel = destination[..length];
        if (!ChannelName.IsValid(channel, out _))
        {
            throw new ArgumentException($"'{prefix}{key}' is not a valid channel name: use A-Z a-z 0-9 _ . - only.", paramName);
        }

        return channel;
    }

    private static void EnsureFinite(double value, string paramName)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentException($"{paramName} must be a finite number (JSON has no NaN or Infinity), not {value}.", paramName);
        }
    }

    private static void EnsureJson(ReadOnlySpan<byte> json, string paramName)
    {
        if (!MessagePublisher.IsSingleJsonValue(json))
        {
            throw new ArgumentException("Must be exactly one JSON value in UTF-8.", paramName);
        }
    }
}
