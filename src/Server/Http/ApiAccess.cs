using System.Net;
using System.Net.Http.Headers;
using FastWs.Server.Auth;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace FastWs.Server.Http;

/// <summary>
/// What every HTTP API endpoint checks before it acts: the Origin rule, a JSON Content-Type, an optional bearer
/// token, and who the caller is (loopback trust as for WebSocket clients, behind a trusted proxy the forwarded client).
/// </summary>
internal static class ApiAccess
{
    /// <summary>
    /// 403 for a request with an Origin not on the allowed list, else null. A browser page may not call the API,
    /// not even one on the server's own host. The one page this endpoint serves (the dashboard, <c>GET /</c>) is not
    /// hindered: it only makes same-origin GETs, which browsers send without an Origin header.
    /// </summary>
    public static IResult? RefuseForeignOrigin(HttpContext context, ServerState state)
    {
        string? origin = context.Request.Headers.Origin.Count > 0 ? context.Request.Headers.Origin.ToString() : null;
        if (origin is not null && state.Auth.Origins.Check(origin) != OriginVerdict.Listed)
        {
            state.Metrics.OriginRejected();
            return Error("Cross-origin requests are refused (Origin not in FastWs:AllowedOrigins)", StatusCodes.Status403Forbidden);
        }

        return null;
    }

    /// <summary>
    /// 415 unless the body is declared JSON (what a no-cors text/plain form or fetch would not send), else null.
    /// </summary>
    public static IResult? RefuseNonJson(HttpContext context) =>
        IsJson(context.Request.ContentType) ? null : Error("Content-Type must be application/json", StatusCodes.Status415UnsupportedMediaType);

    /// <summary>application/json or any +json type, with or without parameters (charset).</summary>
    public static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType) || !MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? media) || media.MediaType is not { } type)
        {
            return false;
        }

        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The bearer token's user (null without an Authorization header), or the 401 for a malformed or invalid token.
    /// </summary>
    public static async Task<(UserIdentity? User, IResult? Refusal)> AuthenticateAsync(HttpContext context, ServerState state)
    {
        string authorization = context.Request.Headers.Authorization.ToString();
        if (authorization.Length == 0)
        {
            return (null, null);
        }

        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Unauthorized(state, AuthFailure.Malformed, "Authorization must be a Bearer token"));
        }

        TokenCheck check = await state.Auth.ValidateAsync(authorization["Bearer ".Length..].Trim()).ConfigureAwait(false);
        return check.IsValid ? (check.User, null) : (null, Unauthorized(state, check.Failure, AuthFailures.Reason(check.Failure)));
    }

    /// <summary>
    /// Null when the caller may act on connections and watch the server (send to and close connections by id, the
    /// connections list, the dashboard's data): a caller on this host (as trusted as for publishing), or a bearer token
    /// with the role <see cref="ApiOptions.ConnectionsRole"/>. Else the 401 (no token, or an invalid one) or the 403
    /// (a valid token without the role), its message starting with <paramref name="what"/>.
    /// </summary>
    public static async Task<IResult?> RefuseUnlessOperatorAsync(HttpContext context, ServerState state, string what)
    {
        (UserIdentity? user, IResult? unauthorized) = await AuthenticateAsync(context, state).ConfigureAwait(false);
        if (unauthorized is not null)
        {
            return unauthorized;
        }

        Caller caller = CallerOf(context, state, user);
        string role = state.Options.Api.ConnectionsRole;
        if (caller.IsTrustedLoopback || (user is not null && user.HasRole(role)))
        {
            return null;
        }

        string message = $"{what} needs a local caller or a token with the role '{role}'";
        return user is null ? TokenRequired(message) : Error(message, StatusCodes.Status403Forbidden);
    }

    /// <summary>
    /// The caller for access rules. As for WebSocket clients: behind a trusted proxy the client is the forwarded
    /// address, not the proxy's.
    /// </summary>
    public static Caller CallerOf(HttpContext context, ServerState state, UserIdentity? user)
    {
        string forwardedFor = context.Request.Headers["X-Forwarded-For"].ToString();
        IPAddress client = state.ClientAddress.Resolve(context.Connection.RemoteIpAddress, forwardedFor.Length > 0 ? forwardedFor : null);
        return new Caller(IPAddress.IsLoopback(client), user);
    }

    /// <summary>
    /// An RFC 7807 problem details answer (<c>application/problem+json</c>): <c>type</c> and <c>title</c> from the
    /// status (ASP.NET Core's defaults: the RFC 9110 section and its reason phrase), <c>status</c>, and
    /// <paramref name="message"/> as <c>detail</c>.
    /// </summary>
    public static IResult Error(string message, int status) => Results.Problem(detail: message, statusCode: status);

    public static IResult ShuttingDown() => Error("The server is shutting down", StatusCodes.Status503ServiceUnavailable);

    private static IResult Unauthorized(ServerState state, AuthFailure failure, string message)
    {
        state.Metrics.AuthFailed(failure);
        return new UnauthorizedResult(message, "Bearer error=\"invalid_token\"");
    }

    /// <summary>401 without credentials: the RFC 6750 challenge with no error code.</summary>
    public static IResult TokenRequired(string message) => new UnauthorizedResult(message, "Bearer");

    /// <summary>401 with the RFC 6750 challenge, so clients know a (new) bearer token is wanted.</summary>
    private sealed class UnauthorizedResult(string message, string challenge) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.WWWAuthenticate = challenge;
            return Error(message, StatusCodes.Status401Unauthorized).ExecuteAsync(httpContext);
        }
    }
}
