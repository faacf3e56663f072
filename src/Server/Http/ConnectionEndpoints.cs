using System.Text.Json;
using FastWs.Server.Auth;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace FastWs.Server.Http;

/// <summary>
/// <c>POST /api/connections/{id}/send</c> (the body, any JSON value, goes to that connection as it is) and
/// <c>POST /api/connections/{id}/close</c> (<c>{"code":4000,"reason":"..."}</c>). Allowed for trusted loopback
/// callers and for bearer tokens with the role <see cref="ApiOptions.ConnectionsRole"/>; Origin and Content-Type
/// rules as for <c>/api/publish</c>.
/// </summary>
internal static class ConnectionEndpoints
{
    private const long MaxBodyBytes = 4 * 1024 * 1024;

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/connections/{id}/send", SendAsync);
        endpoints.MapPost("/api/connections/{id}/close", CloseAsync);
    }

    private static async Task<IResult> SendAsync(string id, HttpContext context, ServerState state)
    {
        if (await RefuseAsync(context, state).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            return ApiAccess.Error(ex.Message, ex.StatusCode);
        }

        if (!MessagePublisher.IsSingleJsonValue(body))
        {
            return ApiAccess.Error("Body is not one valid JSON value", StatusCodes.Status400BadRequest);
        }

        return state.ConnectionControl.SendToConnection(id, body) switch
        {
            ConnectionCommandResult.Sent => Results.Json(new SendResponse(true), statusCode: StatusCodes.Status202Accepted),
            ConnectionCommandResult.Skipped => Results.Json(new SendResponse(false), statusCode: StatusCodes.Status202Accepted),
            ConnectionCommandResult.Closing => Closing(),
            _ => NotFound(),
        };
    }

    private static async Task<IResult> CloseAsync(string id, HttpContext context, ServerState state)
    {
        if (await RefuseAsync(context, state).ConfigureAwait(false) is { } refused)
        {
            return refused;
        }

        ushort code;
        string reason;
        try
        {
            using JsonDocument document = JsonDocument.Parse(await ReadBodyAsync(context).ConfigureAwait(false));
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("code", out JsonElement codeElement)
                || codeElement.ValueKind != JsonValueKind.Number || !codeElement.TryGetUInt16(out code))
            {
                return ApiAccess.Error("Body must be {\"code\":4000,\"reason\":\"...\"} with a numeric code", StatusCodes.Status400BadRequest);
            }

            if (!root.TryGetProperty("reason", out JsonElement reasonElement))
            {
                reason = string.Empty;
            }
            else if (reasonElement.ValueKind == JsonValueKind.String)
            {
                reason = reasonElement.GetString()!;
            }
            else
            {
                return ApiAccess.Error("\"reason\" must be a string", StatusCodes.Status400BadRequest);
            }
        }
        catch (JsonException)
        {
            return ApiAccess.Error("Body is not valid JSON", StatusCodes.Status400BadRequest);
        }
        catch (BadHttpRequestException ex)
        {
            return ApiAccess.Error(ex.Message, ex.StatusCode);
        }

        if (ConnectionControl.ValidateClose(code, reason) is { } problem)
        {
            return ApiAccess.Error(problem, StatusCodes.Status400BadRequest);
        }

        return state.ConnectionControl.CloseConnection(id, code, reason) switch
        {
            ConnectionCommandResult.Sent => Results.Json(new CloseResponse(true), statusCode: StatusCodes.Status202Accepted),
            ConnectionCommandResult.Closing => Closing(),
            _ => NotFound(),
        };
    }

    /// <summary>The checks both endpoints make before reading the body: shutdown, Origin, Content-Type, who is asking.</summary>
    private static async Task<IResult?> RefuseAsync(HttpContext context, ServerState state)
    {
        if (state.IsShuttingDown)
        {
            return ApiAccess.ShuttingDown();
        }

        if ((ApiAccess.RefuseForeignOrigin(context, state) ?? ApiAccess.RefuseNonJson(context)) is { } refused)
        {
            return refused;
        }

        return await ApiAccess.RefuseUnlessOperatorAsync(context, state, "Sending to and closing connections").ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        IHttpMaxRequestBodySizeFeature? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (limit is { IsReadOnly: false })
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static IResult NotFound() => ApiAccess.Error("No connection with this id", StatusCodes.Status404NotFound);

    private static IResult Closing() => ApiAccess.Error("The connection is closing", StatusCodes.Status409Conflict);

    internal sealed record SendResponse(bool Sent);

    internal sealed record CloseResponse(bool Closing);
}
