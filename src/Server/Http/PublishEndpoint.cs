using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Channels;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary>
/// <c>POST /api/publish</c>: one message <c>{"channel":"price:SOL","data":{...}}</c> or an array of them.
/// Everything is validated before anything is published, so a 400 means nothing went out.
/// </summary>
internal static class PublishEndpoint
{
    private const long MaxBodyBytes = 4 * 1024 * 1024;

    public static void Map(IEndpointRouteBuilder endpoints) => endpoints.MapPost("/api/publish", HandleAsync);

    private static async Task<IResult> HandleAsync(HttpContext context, ServerState state)
    {
        if (state.IsShuttingDown)
        {
            return ApiAccess.ShuttingDown();
        }

        // A browser page may not publish (any Origin not on the allowed list), nor may a body that is not JSON.
        if ((ApiAccess.RefuseForeignOrigin(context, state) ?? ApiAccess.RefuseNonJson(context)) is { } refused)
        {
            return refused;
        }

        (UserIdentity? user, IResult? unauthorized) = await ApiAccess.AuthenticateAsync(context, state).ConfigureAwait(false);
        if (unauthorized is not null)
        {
            return unauthorized;
        }

        IHttpMaxRequestBodySizeFeature? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            return BadRequest("Body is not valid JSON");
        }
        catch (BadHttpRequestException ex)
        {
            return ApiAccess.Error(ex.Message, ex.StatusCode);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            bool isArray = root.ValueKind == JsonValueKind.Array;
            if (!isArray && root.ValueKind != JsonValueKind.Object)
            {
                return BadRequest("Body must be a message object or an array of them");
            }

            var messages = new List<(string Channel, string Data)>();
            int index = 0;

            Caller caller = ApiAccess.CallerOf(context, state, user);
            foreach (JsonElement item in isArray ? root.EnumerateArray() : SingleItem(root))
            {
                string? problem = Validate(item, state, caller, out string? channel, out int status);
                if (problem is not null)
                {
                    string where = isArray ? $"message {index}: " : string.Empty;
                    return ApiAccess.Error(where + problem, status);
                }

                messages.Add((channel!, item.GetProperty("data").GetRawText()));
                index++;
            }

            if (messages.Count == 0)
            {
                return BadRequest("No messages");
            }

            if (state.Publisher.Broker is not null)
            {
                return await PublishThroughBrokerAsync(state, messages, context.RequestAborted).ConfigureAwait(false);
            }

            int queued = 0, subscribers = 0;
            try
            {
                foreach ((string channel, string data) in messages)
                {
                    // Queued only: the whole array is delivered together below, one socket write per subscriber.
                    PublishResult result = await state.Publisher.PublishValidatedAsync(channel, System.Text.Encoding.UTF8.GetBytes(data), context.RequestAborted, deferDelivery: true).ConfigureAwait(false);
                    if (result.Outcome == PublishOutcome.ShuttingDown)
                    {
                        return ApiAccess.ShuttingDown();
                    }

                    if (result.Outcome == PublishOutcome.Queued)
                    {
                        queued++;
                        subscribers += result.Subscribers;
                    }
                }
            }
            finally
            {
                // Whatever was queued goes out together, also when shutdown stopped the array halfway.
                state.Publisher.DeliverQueued();
            }

            return Results.Json(new PublishResponse(messages.Count, queued, subscribers), statusCode: StatusCodes.Status202Accepted);
        }
    }

    /// <summary>
    /// Several nodes: every message of the array goes to the broker at once (pipelined, in order), then the answers
    /// are awaited together. 503 when any was not published, saying how many were.
    /// </summary>
    private static async Task<IResult> PublishThroughBrokerAsync(ServerState state, List<(string Channel, string Data)> messages, CancellationToken cancellationToken)
    {
        var pending = new Task<PublishResult>[messages.Count];
        for (int i = 0; i < pending.Length; i++)
        {
            pending[i] = state.Publisher.PublishValidatedAsync(messages[i].Channel, System.Text.Encoding.UTF8.GetBytes(messages[i].Data), cancellationToken).AsTask();
        }

        PublishResult[] results = await Task.WhenAll(pending).ConfigureAwait(false);
        int queued = 0;
        var failed = new List<int>();
        for (int i = 0; i < results.Length; i++)
        {
            if (results[i].Outcome == PublishOutcome.ShuttingDown)
            {
                return ApiAccess.ShuttingDown();
            }

            if (results[i].Outcome == PublishOutcome.Queued)
            {
                queued++;
            }
            else
            {
                failed.Add(i);
            }
        }

        if (failed.Count > 0)
        {
            return ApiAccess.Error(
                $"The broker (Redis) cannot be reached or is too far behind: {queued} of {results.Length} messages published; not published: message {string.Join(", ", failed.Take(20))}{(failed.Count > 20 ? ", ..." : "")}",
                StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Json(new PublishResponse(messages.Count, queued, 0), statusCode: StatusCodes.Status202Accepted);
    }

    private static IEnumerable<JsonElement> SingleItem(JsonElement element)
    {
        yield return element;
    }

    private static string? Validate(JsonElement item, ServerState state, in Caller caller, out string? channel, out int status)
    {
        channel = null;
        status = StatusCodes.Status400BadRequest;
        if (item.ValueKind != JsonValueKind.Object)
        {
            return "each message must be an object";
        }

        if (!item.TryGetProperty("channel", out JsonElement channelElement) || channelElement.ValueKind != JsonValueKind.String)
        {
            return "\"channel\" must be a string";
        }

        if (!item.TryGetProperty("data", out JsonElement data))
        {
            return "\"data\" is missing";
        }

        channel = channelElement.GetString()!;
        if (!ChannelName.IsValid(channel, out int namespaceLength))
        {
            return "invalid channel name";
        }

        if (!state.Namespaces.TryGet(channel.AsSpan(0, namespaceLength), out NamespaceOptions settings))
        {
            return "unknown channel namespace";
        }

        ReadOnlySpan<char> key = ChannelName.Key(channel);
        if (settings.KeyRegex is { } pattern && !pattern.IsMatch(key))
        {
            return $"keys of '{channel[..namespaceLength]}' channels must match {settings.KeyPattern}";
        }

        if (!settings.Publish.Allows(caller, key))
        {
            status = StatusCodes.Status403Forbidden;
            return settings.Publish.Explain("Publishing", channel.AsSpan(0, namespaceLength));
        }

        if (settings.Format == MessageFormat.Inline && data.ValueKind != JsonValueKind.Object)
        {
            return Messages.ClientRequestHandler.NotAnObjectMessage(channel);
        }

        return null;
    }

    private static IResult BadRequest(string message) => ApiAccess.Error(message, StatusCodes.Status400BadRequest);

    internal sealed record PublishResponse(int Accepted, int Queued, int Subscribers);
}
