using System.Diagnostics;

namespace FastWs.LoadGen.Tests.TestSupport;

/// <summary>The repository around the test binaries, and the Node.js that perf/compare's scripts run on.</summary>
internal static class Repository
{
    /// <summary>The folder holding FastWs.sln, found upwards from the test binaries.</summary>
    public static string Root()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FastWs.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("FastWs.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Fails the test, loudly, when `node` (Node.js 20, which perf/compare needs and .ci/run requires) is not on PATH.</summary>
    public static void RequireNode()
    {
        try
        {
            using Process? node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true, UseShellExecute = false });
            if (node is not null && node.WaitForExit(10_000) && node.ExitCode == 0)
            {
                return;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not installed: fall through to the failure.
        }

        Assert.Fail("node is not on PATH: perf/compare needs Node.js >= 20 (install it; .ci/run requires it too)");
    }
}
