namespace FastWs.Client;

/// <summary>
/// An error the server sent (<c>{"type":"error","code":...}</c>), a refused request, or a client-side failure.
/// <see cref="Code"/> is the server's code (<c>forbidden</c>, <c>invalid_channel</c>, <c>limit_exceeded</c>,
/// <c>rate_limited</c>, <c>unauthorized</c>, <c>bad_request</c>, <c>unavailable</c>) or one of the client's own:
/// <c>timeout</c>, <c>closed</c>, <c>auth_failed</c>, <c>token_refresh_failed</c>, <c>unsubscribed</c>,
/// <c>bad_frame</c>, <c>handler</c>.
/// </summary>
public sealed class FastWsException : Exception
{
    public FastWsException()
        : this("error", "FastWs error")
    {
    }

    public FastWsException(string message)
        : this("error", message)
    {
    }

    public FastWsException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = "error";
    }

    public FastWsException(string code, string message, string? channel = null)
        : base(message)
    {
        Code = code;
        Channel = channel;
    }

    /// <summary>The server's error code or the client's (see the class summary).</summary>
    public string Code { get; }

    /// <summary>The channel the error is about, when known.</summary>
    public string? Channel { get; }
}
