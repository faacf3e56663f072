using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>), headless, driven through Selenium by Debian's
/// <c>chromium-driver</c> (<c>/usr/bin/chromedriver</c>), both installed by <c>.ci/run</c>. Nothing is downloaded: the
/// driver's path is given, so Selenium Manager never runs. A missing browser or driver fails the test that needs it,
/// saying what to install; it never skips.
/// </summary>
internal static class HeadlessChromium
{
    public const string BrowserPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";

    public static ChromeDriver Start(int width = 1500, int height = 1500)
    {
        Assert.True(File.Exists(BrowserPath), $"{BrowserPath} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)");
        Assert.True(File.Exists(DriverPath), $"{DriverPath} is missing: install Debian's chromium-driver (apt-get install chromium-driver; .ci/run does)");
        ChromeDriverService service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = BrowserPath };
        options.AddArguments(
            "--headless=new",
            "--no-sandbox", // CI runs as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            $"--window-size={width},{height}");
        try
        {
            return new ChromeDriver(service, options, TimeSpan.FromSeconds(30));
        }
        catch (WebDriverException ex)
        {
            service.Dispose();
            throw new InvalidOperationException($"Headless Chromium did not start ({BrowserPath} through {DriverPath}): {ex.Message}", ex);
        }
    }
}
