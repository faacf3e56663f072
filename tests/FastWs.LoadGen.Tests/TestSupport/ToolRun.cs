using System.Text.Json;

namespace FastWs.LoadGen.Tests.TestSupport;

/// <summary>Runs the load tool's entry point in process, as a user would run the command, with a report directory of its own.</summary>
internal static class ToolRun
{
    /// <summary>Returns the exit code and the parsed summary.json (null when none was written).</summary>
    public static async Task<(int ExitCode, JsonElement? Summary)> RunAsync(string reportsRoot, string name, params string[] args)
    {
        string reportDir = Path.Combine(reportsRoot, name);
        int exitCode = await Program.Main([.. args, "--no-progress", "--report", reportDir]).WaitAsync(TimeSpan.FromSeconds(60));
        string summaryPath = Path.Combine(reportDir, "summary.json");
        if (!File.Exists(summaryPath))
        {
            return (exitCode, null);
        }

        using JsonDocument document = JsonDocument.Parse(await File.ReadAllTextAsync(summaryPath));
        return (exitCode, document.RootElement.Clone());
    }
}
