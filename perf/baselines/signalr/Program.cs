using System.Globalization;
using System.Net;
using FastWs.Baseline.SignalR;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RedisChannel = StackExchange.Redis.RedisChannel;
using Microsoft.AspNetCore.SignalR;

// Issue 18's anchor: ASP.NET Core SignalR with the Redis backplane (Microsoft.AspNetCore.SignalR.StackExchangeRedis).
//   dotnet perf/baselines/signalr/bin/Release/net10.0/FastWs.Baseline.SignalR.dll --port 8093 --redis 127.0.0.1:6379
// (or PORT / REDIS; default port 8093, no --redis = a single node without backplane). Listens on 127.0.0.1, hub at /hub.
int port = ParsePort(args, Environment.GetEnvironmentVariable("PORT"), 8093);
string? redis = Option(args, "--redis") ?? Environment.GetEnvironmentVariable("REDIS");

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
// The template's logging: nothing per message; the startup lines are quietened so "listening on" is the only one.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
ISignalRServerBuilder signalR = builder.Services.AddSignalR(options =>
{
    // The one change from the defaults: the load tool's subscribers only read, and SignalR drops a client it has not
    // heard from in 30 s (ClientTimeoutInterval). Idle-client detection is not what is measured; fan-out is.
    options.ClientTimeoutInterval = TimeSpan.FromMinutes(10);
});
if (!string.IsNullOrEmpty(redis))
{
    // All nodes of one cluster use the same prefix, so their group sends meet in the same Redis channels.
    signalR.AddStackExchangeRedis(redis, options => options.Configuration.ChannelPrefix = RedisChannel.Literal("fastws-signalr"));
}

WebApplication app = builder.Build();
app.MapHub<PubSubHub>("/hub");

app.Lifetime.ApplicationStarted.Register(() =>
{
    ICollection<string>? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
    string address = addresses?.FirstOrDefault() ?? $"http://127.0.0.1:{port}";
    Console.WriteLine($"listening on {address.Replace("http://", "ws://", StringComparison.Ordinal)}/hub{(string.IsNullOrEmpty(redis) ? "" : " (redis " + redis + ")")}");
});

await app.RunAsync();

static string? Option(string[] args, string name)
{
    string? value = null;
    for (int i = 0; i < args.Length; i++)
    {
        if (args[i] == name && i + 1 < args.Length)
        {
            value = args[++i];
        }
        else if (args[i].StartsWith(name + "=", StringComparison.Ordinal))
        {
            value = args[i][(name.Length + 1)..];
        }
    }

    return value;
}

static int ParsePort(string[] args, string? environment, int fallback)
{
    string? value = Option(args, "--port") ?? environment;
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
