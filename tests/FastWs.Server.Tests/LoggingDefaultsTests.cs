using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FastWs.Server.Tests;

/// <summary>
/// The shipped appsettings.json: no logging scopes captured (Kestrel's per-connection scope would cost every idle
/// connection ~170 bytes), while Kestrel's own warnings stay on.
/// </summary>
public sealed class LoggingDefaultsTests
{
    [Fact]
    public async Task The_shipped_configuration_captures_no_scopes_and_keeps_kestrel_warnings()
    {
        await using TestServer server = await TestServer.StartAsync();
        LoggerFilterOptions filters = server.Server.Services.GetRequiredService<IOptions<LoggerFilterOptions>>().Value;
        Assert.False(filters.CaptureScopes);

        ILogger kestrel = server.Server.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.AspNetCore.Server.Kestrel");
        Assert.True(kestrel.IsEnabled(LogLevel.Warning));
        using IDisposable? scope = kestrel.BeginScope("connection id");
        Assert.True(scope is null || scope.GetType().Name.Contains("Null", StringComparison.Ordinal), $"a captured scope: {scope?.GetType()}");
    }

    [Fact]
    public async Task Configuration_can_switch_scopes_back_on()
    {
        await using TestServer server = await TestServer.StartAsync(args: ["--Logging:CaptureScopes=true"]);
        Assert.True(server.Server.Services.GetRequiredService<IOptions<LoggerFilterOptions>>().Value.CaptureScopes);

        // The same check as above sees a real scope now, so it can tell the two apart.
        ILogger kestrel = server.Server.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.AspNetCore.Server.Kestrel");
        using IDisposable? scope = kestrel.BeginScope("connection id");
        Assert.False(scope is null || scope.GetType().Name.Contains("Null", StringComparison.Ordinal), $"no scope captured: {scope?.GetType()}");
    }
}
