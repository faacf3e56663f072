using System.Text.Json;

namespace FastWs.Server.Tests;

/// <summary>
/// The runtime settings the server process ships with (FastWs.Server.runtimeconfig.json, built from the
/// server's project file and copied next to the tests): docs/operations.md "Runtime settings" says why each is there.
/// </summary>
public sealed class RuntimeSettingsTests
{
    private static JsonElement ConfigProperties()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "FastWs.Server.runtimeconfig.json");
        Assert.True(File.Exists(path), $"missing {path}");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    [Theory]
    [InlineData("System.Runtime.TieredCompilation", "false")]
    [InlineData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", "0")]
    [InlineData("System.GC.Server", "false")]
    [InlineData("System.GC.Concurrent", "true")]
    public void The_server_process_runs_with(string setting, string value)
    {
        Assert.True(ConfigProperties().TryGetProperty(setting, out JsonElement actual), $"{setting} is not set");
        Assert.Equal(value, actual.GetRawText());
    }
}
