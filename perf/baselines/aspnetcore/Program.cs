using System.Globalization;
using System.Net;
using FastWs.Baseline.AspNetCore;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

// FastWs comparison baseline on ASP.NET Core's WebSocket middleware.
//   dotnet perf/baselines/aspnetcore/bin/Release/net10.0/FastWs.Baseline.AspNetCore.dll --port 8090
// (or PORT=8090; default 8090). Listens on 127.0.0.1, path /ws.
int port = ParsePort(args, Environment.GetEnvironmentVariable("PORT"), 8090);

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
// What the template's appsettings.json does: no per-request framework logging. The host's startup lines are
// quietened too, so the only line on stdout is the "listening on" one that scripts wait for.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
builder.Services.AddSingleton<PubSubHub>();

WebApplication app = builder.Build();
app.UseWebSockets();

app.Map("/ws", async (HttpContext context, PubSubHub hub) =>
{
    if (!context.WebSockets.IsWebSocketRequest)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return;
    }

    string? subscribe = context.Request.Query.TryGetValue("subscribe", out var values) ? values.ToString() : null;
    using System.Net.WebSockets.WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
    await hub.RunClientAsync(socket, subscribe);
});

app.Lifetime.ApplicationStarted.Register(() =>
{
    ICollection<string>? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
    string address = addresses?.FirstOrDefault() ?? $"http://127.0.0.1:{port}";
    Console.WriteLine($"listening on {address.Replace("http://", "ws://", StringComparison.Ordinal)}/ws");
});
app.Lifetime.ApplicationStopping.Register(() => app.Services.GetRequiredService<PubSubHub>().CloseAll());

await app.RunAsync();

static int ParsePort(string[] args, string? environment, int fallback)
{
    string? value = environment;
    for (int i = 0; i < args.Length; i++)
    {
        if (args[i] == "--port" && i + 1 < args.Length)
        {
            value = args[++i];
        }
        else if (args[i].StartsWith("--port=", StringComparison.Ordinal))
        {
            value = args[i]["--port=".Length..];
        }
    }

    if (string.IsNullOrEmpty(value))
    {
        return fallback;
    }

    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
    {
        Console.Error.WriteLine($"invalid port: {value}");
        Environment.Exit(2);
    }

    return port;
}
