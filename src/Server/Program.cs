using FastWs.Server.Hosting;
using Microsoft.Extensions.Options;

// FastWs: `dotnet run --project src/Server -- --demo` starts the server with a simulated market feed.
// Every setting can come from appsettings.json, FastWs__* environment variables or --FastWs:Key=value arguments.
bool demo = args.Contains("--demo", StringComparer.Ordinal);
string[] hostArgs = args.Where(a => !string.Equals(a, "--demo", StringComparison.Ordinal)).ToArray();

FastWsServer server;
try
{
    server = FastWsServer.Create(hostArgs, options => options.Demo |= demo);
}
catch (Exception ex) when (ex is OptionsValidationException or TlsCertificateException)
{
    // A bad setting or an unusable certificate file: one line naming the setting(s), exit code 1, no stack trace.
    Console.Error.WriteLine("FastWs could not start: " + ex.Message);
    return 1;
}

await using (server.ConfigureAwait(false))
{
    try
    {
        await server.RunAsync().ConfigureAwait(false);
    }
    catch (IOException ex)
    {
        // A port in use or not ours to bind (Kestrel reports both as IOException): one clear line and exit code 1,
        // not an unhandled exception (the host has logged the details).
        Console.Error.WriteLine("FastWs could not start: " + ex.Message);
        return 1;
    }
}

return 0;
