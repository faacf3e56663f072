using System.Net;
using System.Text.Json;
using System.Net.Http.Headers;
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
            return Results.Json(new ErrorBody("The server is shutting down"), statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        // A browser page may not publish, not even one on the server's own host: any Origin not on the allowed list
        // is refused (this endpoint serves no pages, so every browser request here is cross-origin), and so is a body
        // that is not JSON, which is what a no-cors text/plain form or fetch would send.
        string? origin = context.Request.Headers.Origin.Count > 0 ? context.Request.Headers.Origin.ToString() : null;
        if (origin is not null && state.Auth.Origins.Check(origin) != OriginVerdict.Listed)
        {
            state.Metrics.OriginRejected();
            return Results.Json(new ErrorBody("Cross-origin requests are refused (Origin not in FastWs:AllowedOrigins)"), statusCode: StatusCodes.Status403Forbidden);
        }

        if (!IsJson(context.Request.ContentType))
        {
            return Results.Json(new ErrorBody("Content-Type must be application/json"), statusCode: StatusCodes.Status415UnsupportedMediaType);
        }

        UserIdentity? user = null;
        string authorization = context.Request.Headers.Authorization.ToString();
        if (authorization.Length > 0)
        {
            if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return Unauthorized(state, AuthFailure.Malformed, "Authorization must be a Bearer token");
            }

            TokenCheck check = await state.Auth.ValidateAsync(authorization["Bearer ".Length..].Trim()).ConfigureAwait(false);
            if (!check.IsValid)
            {
                return Unauthorized(state, check.Failure, AuthFailures.Reason(check.Failure));
            }

            user = check.User;
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
            return Results.Json(new ErrorBody(ex.Message), statusCode: ex.StatusCode);
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

            // As for WebSocket clients: behind a trusted proxy the client is the forwarded address, not the proxy.
            string forwardedFor = context.Request.Headers["X-Forwarded-For"].ToString();
            IPAddress client = state.ClientAddress.Resolve(context.Connection.RemoteIpAddress, forwardedFor.Length > 0 ? forwardedFor : null);
            var caller = new Caller(IPAddress.IsLoopback(client), user);
            foreach (JsonElement item in isArray ? root.EnumerateArray() : SingleItem(root))
            {
                string? problem = Validate(item, state, caller, out string? channel, out int status);
                if (problem is not null)
                {
                    string where = isArray ? $"message {index}: " : string.Empty;
                    return Results.Json(new ErrorBody(where + problem), statusCode: status);
                }

                messages.Add((channel!, item.GetProperty("data").GetRawText()));
                index++;
            }

            if (messages.Count == 0)
            {
                return BadRequest("No messages");
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
                        return Results.Json(new ErrorBody("The server is shutting down"), statusCode: StatusCodes.Status503ServiceUnavailable);
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

        if (!item.TryGetProperty("data", out _))
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

        return null;
    }

    /// <summary>application/json or any +json type, with or without parameters (charset).</summary>
    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType) || !MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? media) || media.MediaType is not { } type)
        {
            return false;
        }

        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    private static IResult Unauthorized(ServerState state, AuthFailure failure, string message)
    {
        state.Metrics.AuthFailed(failure);
        return new UnauthorizedResult(message);
    }

    /// <summary>401 with the RFC 6750 challenge, so clients know a (new) bearer token is wanted.</summary>
    private sealed class UnauthorizedResult(string message) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            return Results.Json(new ErrorBody(message), statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(httpContext);
        }
    }

    private static IResult BadRequest(string message) => Results.Json(new ErrorBody(message), statusCode: StatusCodes.Status400BadRequest);

    internal sealed record ErrorBody(string Error);

    internal sealed record PublishResponse(int Accepted, int Queued, int Subscribers);
}
