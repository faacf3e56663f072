using System.Globalization;
using System.Text;
using FastWs.Server.Tests.TestSupport;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FastWs.Server.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser (headless Chromium through Selenium): the test opens <c>GET /</c>, drives traffic
/// with real WebSocket clients and publishes, and reads the page's numbers (elements with stable ids, the raw value in
/// <c>data-value</c>) as they follow it. A screenshot is kept as a test artifact.
/// </summary>
public sealed class DashboardBrowserTests
{
    /// <summary>Set to a path to also write the screenshot there (how docs/dashboard.png is made).</summary>
    public const string ScreenshotVariable = "FASTWS_DASHBOARD_SCREENSHOT";

    [Fact]
    public async Task The_page_follows_connections_and_traffic_filters_connections_and_is_screenshotted()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            // Pings every second, so the connections view has round-trip times to show.
            o.Heartbeat.PingInterval = TimeSpan.FromSeconds(1);
            o.Heartbeat.PongTimeout = TimeSpan.FromMilliseconds(800);
        });
        using ChromeDriver browser = HeadlessChromium.Start();
        browser.Navigate().GoToUrl(server.HttpUri);
        await WaitForAsync(browser, () => Text(browser, "live") == "live", "the page to connect to the event stream");
        await WaitForAsync(browser, () => Value(browser, "connections") == 0, "0 connections on an idle server");

        // Traffic: six subscribers over three channels, and a steady publisher.
        string[] channels = ["bench:prices", "bench:trades", "bench:alerts"];
        var clients = new List<TestClient>();
        try
        {
            for (int i = 0; i < 6; i++)
            {
                TestClient client = await server.ConnectAsync($"subscribe={channels[i % 3]}{(i < 2 ? "," + channels[2] : "")}");
                clients.Add(client);
                await client.WaitConnectedAsync();
            }

            await clients[0].SendAsync("{not json"); // one error, shown on its row
            using var publishing = new CancellationTokenSource();
            Task publisher = PublishAsync(server, channels, publishing.Token);
            try
            {
                await WaitForAsync(browser, () => Value(browser, "connections") == 6, "6 connections");
                await WaitForAsync(browser, () => Value(browser, "messages-out-rate") > 0, "messages out per second above 0");
                // The number on the page is one the server itself sampled (the same second, not a browser-side estimate).
                long shown = Value(browser, "messages-out-rate");
                Assert.Contains(server.State.Dashboard.History(), s => s.MessagesOut == shown);
                Assert.True(Value(browser, "published-rate") > 0);
                Assert.True(Value(browser, "bytes-out-rate") > 0);

                // The connections view: all six, then filtered by channel.
                await WaitForAsync(browser, () => Value(browser, "connections-total") == 6 && Rows(browser) == 6, "6 rows in the connections view");
                IWebElement firstRow = browser.FindElement(By.CssSelector("#connections-rows tr"));
                Assert.Equal(clients[0].ConnectionId, firstRow.GetAttribute("data-id"));
                await WaitForAsync(browser, () => browser.FindElements(By.CssSelector("#connections-rows td")).Any(td => td.Text.EndsWith(" ms", StringComparison.Ordinal)),
                    "a pong round trip in the connections view");
                browser.FindElement(By.Id("filter-channel")).SendKeys("bench:alerts");
                // bench:alerts: clients 2 and 5 by their first channel, 0 and 1 as their second.
                await WaitForAsync(browser, () => Value(browser, "connections-total") == 4 && Rows(browser) == 4, "4 connections on bench:alerts");
                Assert.Contains("bench:alerts", browser.FindElement(By.Id("top-channels")).Text);
                await WaitForAsync(browser, () => browser.FindElement(By.Id("limits")).Text.Contains("Limits:MaxConnections", StringComparison.Ordinal), "the limits table");

                SaveScreenshot(browser);
            }
            finally
            {
                await publishing.CancelAsync();
                await publisher;
            }

            // Traffic stops and half the clients go: the page follows.
            for (int i = 0; i < 3; i++)
            {
                await clients[i].CloseAsync();
            }

            await WaitForAsync(browser, () => Value(browser, "connections") == 3, "3 connections after three closed");
            await WaitForAsync(browser, () => Value(browser, "messages-out-rate") == 0, "messages out per second back to 0");
            await WaitForAsync(browser, () => Value(browser, "connections-total") == 1 && Rows(browser) == 1, "1 connection left on bench:alerts");
        }
        finally
        {
            foreach (TestClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        // The page opened one event stream, and leaves with the browser.
        Assert.Equal(1, server.State.Dashboard.ViewerCount);
        browser.Quit();
        await TestServer.WaitUntilAsync(() => server.State.Dashboard.ViewerCount == 0, "the page's event stream to end with the browser");
    }

    private static async Task PublishAsync(TestServer server, string[] channels, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        int n = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                n++;
                await server.Server.Publisher.PublishAsync(channels[n % channels.Length], Encoding.UTF8.GetBytes($$"""{"n":{{n}},"price":{{100 + n % 7}}}"""), stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void SaveScreenshot(ChromeDriver browser)
    {
        byte[] png = browser.GetScreenshot().AsByteArray;
        string folder = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "dashboard.png");
        File.WriteAllBytes(path, png);
        TestContext.Current.AddAttachment("dashboard.png", png, "image/png");
        TestContext.Current.TestOutputHelper?.WriteLine($"Screenshot: {path}");
        if (Environment.GetEnvironmentVariable(ScreenshotVariable) is { Length: > 0 } extra)
        {
            File.WriteAllBytes(extra, png);
        }
    }

    private static string Text(ChromeDriver browser, string id) => browser.FindElement(By.Id(id)).Text;

    /// <summary>The raw number an element shows (its <c>data-value</c>).</summary>
    private static long Value(ChromeDriver browser, string id) =>
        long.Parse(browser.FindElement(By.Id(id)).GetAttribute("data-value") ?? "-1", CultureInfo.InvariantCulture);

    private static int Rows(ChromeDriver browser) => browser.FindElements(By.CssSelector("#connections-rows tr")).Count;

    /// <summary>Polls the page (ticks come once a second) until <paramref name="condition"/> holds; fails with what the page shows.</summary>
    private static async Task WaitForAsync(ChromeDriver browser, Func<bool> condition, string what)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (StaleElementReferenceException)
            {
                // The table was redrawn under the read: look again.
            }

            if (watch.Elapsed > TestServer.DefaultTimeout)
            {
                Assert.Fail($"Timed out waiting for {what}; the page shows: connections={Text(browser, "connections")}, "
                    + $"messages out/s={Text(browser, "messages-out-rate")}, live={Text(browser, "live")}, rows={Rows(browser)}, "
                    + $"matching={Text(browser, "connections-total")}; console: {Console(browser)}");
            }

            await Task.Delay(100);
        }
    }

    private static string Console(ChromeDriver browser)
    {
        try
        {
            return string.Join(" | ", browser.Manage().Logs.GetLog(LogType.Browser).Select(entry => entry.Message));
        }
        catch (WebDriverException)
        {
            return "(no log)";
        }
    }
}
