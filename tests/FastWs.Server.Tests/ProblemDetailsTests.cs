using System.Net;
using System.Text;
using System.Text.Json;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>The HTTP API's errors are RFC 7807 problem details (<c>application/problem+json</c>) with the same status codes as before.</summary>
public sealed class ProblemDetailsTests
{
    private static async Task<(HttpStatusCode Status, HttpResponseMessage Response, JsonElement Problem)> SendAsync(TestServer server, HttpRequestMessage request)
    {
        using var http = new HttpClient { BaseAddress = server.HttpUri, Timeout = TestServer.DefaultTimeout };
        HttpResponseMessage response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{(int)response.StatusCode} {response.Content.Headers.ContentType}: {text}");
        using JsonDocument document = JsonDocument.Parse(text);
        JsonElement problem = document.RootElement.Clone();
        Assert.Equal((int)response.StatusCode, problem.GetProperty("status").GetInt32());
        Assert.StartsWith("https://", problem.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        return (response.StatusCode, response, problem);
    }

    private static HttpRequestMessage Post(string path, string body, string contentType = "application/json") =>
        new(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, contentType) };

    [Fact]
    public async Task Publish_errors_are_problem_details_with_their_status()
    {
        await using TestServer server = await TestServer.StartAsync();

        (HttpStatusCode status, HttpResponseMessage response, JsonElement problem) = await SendAsync(server, Post("/api/publish", "{}", "text/plain"));
        using (response)
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
            Assert.Equal("Content-Type must be application/json", problem.GetProperty("detail").GetString());
        }

        (status, response, problem) = await SendAsync(server, Post("/api/publish", """[{"channel":"price:SOL","data":1},{"channel":"nope:x","data":2}]"""));
        using (response)
        {
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("Bad Request", problem.GetProperty("title").GetString());
            Assert.Equal("message 1: unknown channel namespace", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task A_bad_token_gets_401_with_the_bearer_challenge_and_a_problem_body()
    {
        await using TestServer server = await TestServer.StartAsync();
        HttpRequestMessage request = Post("/api/publish", """{"channel":"price:SOL","data":1}""");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic abc");

        (HttpStatusCode status, HttpResponseMessage response, JsonElement problem) = await SendAsync(server, request);
        using (response)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Bearer error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
            Assert.Equal("Authorization must be a Bearer token", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Connection_endpoints_answer_404_and_400_as_problem_details()
    {
        await using TestServer server = await TestServer.StartAsync();

        (HttpStatusCode status, HttpResponseMessage response, JsonElement problem) = await SendAsync(server, Post("/api/connections/nobody/send", "1"));
        using (response)
        {
            Assert.Equal(HttpStatusCode.NotFound, status);
            Assert.Equal("No connection with this id", problem.GetProperty("detail").GetString());
        }

        (status, response, problem) = await SendAsync(server, Post("/api/connections/nobody/close", """{"code":"x"}"""));
        using (response)
        {
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("numeric code", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_unknown_path_or_method_gets_a_problem_body_too()
    {
        await using TestServer server = await TestServer.StartAsync();
        (HttpStatusCode status, HttpResponseMessage response, _) = await SendAsync(server, new HttpRequestMessage(HttpMethod.Get, "/api/nothing-here"));
        using (response)
        {
            Assert.Equal(HttpStatusCode.NotFound, status);
        }

        (status, response, _) = await SendAsync(server, new HttpRequestMessage(HttpMethod.Get, "/api/publish"));
        using (response)
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, status);
        }
    }
}
