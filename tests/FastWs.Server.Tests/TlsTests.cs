using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests;

/// <summary>
/// wss:// and https:// through Kestrel's TLS with the certificates an operator configures: PEM and PFX, a plain
/// client on the TLS port, certificate reload, unusable settings at start-up, and many messages through the TLS
/// pipe (the WebSocket endpoint then runs on Kestrel's socket transport with pipe output).
/// </summary>
public sealed class TlsTests
{
    private static Task<TestServer> StartPemAsync(TlsFiles files, Action<FastWsOptions>? configure = null) => TestServer.StartAsync(o =>
    {
        o.WebSocket.Tls.CertificateFile = files.CertificateFile;
        o.WebSocket.Tls.KeyFile = files.KeyFile;
        o.Http.Tls.CertificateFile = files.CertificateFile;
        o.Http.Tls.KeyFile = files.KeyFile;
        configure?.Invoke(o);
    });

    private static Task<TestClient> ConnectAsync(TestServer server, TlsFiles files) =>
        TestClient.ConnectAsync(server.WebSocketUri, o => o.RemoteCertificateValidationCallback = files.Trusts);

    [Fact]
    public async Task Wss_with_pem_files_receives_a_message_published_over_https()
    {
        using var files = new TlsFiles();
        await using TestServer server = await StartPemAsync(files);
        Assert.Equal("wss", server.WebSocketUri.Scheme);
        Assert.Equal("https", server.HttpUri.Scheme);
        Assert.Equal(TransportEngine.Sockets, server.Server.Transport); // TLS needs Kestrel's transport, whatever was configured

        await using TestClient client = await ConnectAsync(server, files);
        await client.SendAsync("""{"type":"subscribe","channels":["price:SOL"]}""");
        await client.ReceiveTypeAsync("subscribed");

        using HttpClient http = files.HttpClient(server.HttpUri);
        using HttpResponseMessage response = await http.PostAsync("/api/publish", new StringContent("""{"channel":"price:SOL","data":{"p":1}}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":1}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task A_pfx_with_its_password_serves_wss()
    {
        using var files = new TlsFiles();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.WebSocket.Tls.CertificateFile = files.PfxFile;
            o.WebSocket.Tls.Password = TlsFiles.Password;
        });
        Assert.Equal("http", server.HttpUri.Scheme); // TLS is per endpoint

        await using TestClient client = await ConnectAsync(server, files);
        await SubscriptionTests.Subscribe(client, "price:SOL");
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":2}""");

        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":2}}""", await client.ReceiveAsync());
    }

    [Fact]
    public async Task A_plain_ws_client_on_the_tls_port_is_refused_and_the_server_keeps_serving_wss()
    {
        using var files = new TlsFiles();
        await using TestServer server = await StartPemAsync(files);
        var plain = new UriBuilder(server.WebSocketUri) { Scheme = "ws" }.Uri;

        await Assert.ThrowsAsync<WebSocketException>(() => TestClient.ConnectAsync(plain));

        await using TestClient client = await ConnectAsync(server, files);
        await SubscriptionTests.Subscribe(client, "price:SOL");
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":3}""");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":3}}""", await client.ReceiveAsync());
        Assert.Equal(0, server.State.Metrics.HandshakeFailuresTotal); // refused by TLS, before the upgrade parser saw anything
    }

    [Fact]
    public async Task Rewritten_certificate_files_are_served_to_new_connections_and_a_broken_rewrite_keeps_the_old_certificate()
    {
        using var files = new TlsFiles();
        string first = files.Certificate.Thumbprint;
        await using TestServer server = await StartPemAsync(files);
        await using TestClient before = await ConnectAsync(server, files);
        await SubscriptionTests.Subscribe(before, "price:SOL");

        // A half-written certificate: the reload fails, and the certificate in use stays.
        await File.WriteAllTextAsync(files.CertificateFile, "-----BEGIN CERTIFICATE-----\nbroken\n");
        await Task.Delay(CertificateSource.CheckInterval * 1.5);
        Assert.Equal(first, await PresentedThumbprintAsync(server));
        await Task.Delay(CertificateSource.CheckInterval * 1.5); // the failed load is checked again only after a change
        Assert.Equal(first, await PresentedThumbprintAsync(server));

        X509Certificate2 renewed = TlsFiles.NewCertificate("FastWs renewed");
        files.Write(renewed);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        string? presented = await PresentedThumbprintAsync(server);
        while (presented != renewed.Thumbprint)
        {
            Assert.True(watch.Elapsed < TestServer.DefaultTimeout, $"a new connection was still shown {presented}, not the renewed {renewed.Thumbprint}");
            await Task.Delay(100);
            presented = await PresentedThumbprintAsync(server);
        }

        // The connection made before the reload is untouched.
        await server.Server.Publisher.PublishAsync("price:SOL", """{"p":4}""");
        Assert.Equal("""{"type":"message","channel":"price:SOL","seq":1,"data":{"p":4}}""", await before.ReceiveAsync());
    }

    [Theory]
    [InlineData("WebSocket", "missing certificate", "FastWs:WebSocket:Tls:CertificateFile: file not found")]
    [InlineData("WebSocket", "missing key", "FastWs:WebSocket:Tls:KeyFile: file not found")]
    [InlineData("WebSocket", "wrong password", "FastWs:WebSocket:Tls:Password")]
    [InlineData("WebSocket", "key of another certificate", "FastWs:WebSocket:Tls:KeyFile")]
    [InlineData("Http", "missing certificate", "FastWs:Http:Tls:CertificateFile: file not found")]
    [InlineData("Http", "wrong password", "FastWs:Http:Tls:Password")]
    public async Task An_unusable_certificate_setting_stops_start_up_with_a_message_naming_it(string endpoint, string problem, string expected)
    {
        using var files = new TlsFiles();
        using var other = new TlsFiles();
        var tls = new TlsOptions();
        switch (problem)
        {
            case "missing certificate":
                tls.CertificateFile = files.Missing;
                tls.KeyFile = files.KeyFile;
                break;
            case "missing key":
                tls.CertificateFile = files.CertificateFile;
                tls.KeyFile = files.Missing;
                break;
            case "wrong password":
                tls.CertificateFile = files.PfxFile;
                tls.Password = "not the password";
                break;
            default:
                tls.CertificateFile = files.CertificateFile;
                tls.KeyFile = other.KeyFile;
                break;
        }

        // A missing file is found by the options validation, an unusable one by the certificate load: one message either way.
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(o =>
        {
            if (endpoint == "Http")
            {
                o.Http.Tls = tls;
            }
            else
            {
                o.WebSocket.Tls = tls;
            }
        }));

        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public async Task Thousands_of_messages_to_two_wss_subscribers_arrive_complete_and_in_order()
    {
        const int Count = 2000;
        const int Window = 200; // messages a receiver may lag behind: far below the 64 KB slow-consumer limit
        using var files = new TlsFiles();
        await using TestServer server = await StartPemAsync(files);
        await using TestClient a = await ConnectAsync(server, files);
        await using TestClient b = await ConnectAsync(server, files);
        await SubscriptionTests.Subscribe(a, "price:SOL");
        await SubscriptionTests.Subscribe(b, "price:SOL");
        static string Expected(int n) => $$$"""{"type":"message","channel":"price:SOL","seq":{{{n}}},"data":{"n":{{{n}}}}}""";
        var receivers = new List<OrderedReceiver> { new(a, Expected, Count), new(b, Expected, Count) };

        for (int n = 1; n <= Count; n++)
        {
            await server.Server.Publisher.PublishAsync("price:SOL", $$"""{"n":{{n}}}""");
            if (n % 100 == 0)
            {
                await OrderedReceiver.WaitForAllAsync(receivers, n - Window);
            }
        }

        await OrderedReceiver.WaitForAllAsync(receivers, Count);
        Assert.Equal(0, server.State.Metrics.MessagesSkipped);
        Assert.Equal(0, server.State.Metrics.FanOutFailures);
    }

    [Fact]
    public async Task Shutdown_closes_wss_clients_with_1001_through_tls()
    {
        using var files = new TlsFiles();
        await using TestServer server = await StartPemAsync(files);
        await using TestClient client = await ConnectAsync(server, files);
        await SubscriptionTests.Subscribe(client, "price:SOL");

        await server.StopAsync();

        await client.AssertClosedWithAsync(WebSocketCloseStatus.EndpointUnavailable);
        Assert.Equal("Server is shutting down", client.CloseDescription);
    }

    [Fact]
    public async Task The_warm_up_connection_speaks_tls()
    {
        using var files = new TlsFiles();
        await using TestServer server = await StartPemAsync(files, o => o.WarmUp = true);

        Assert.True(server.State.IsWarm);
        Assert.Equal(1, server.State.Metrics.ConnectionsTotal);
        Assert.Equal(1, server.State.Metrics.Published); // its own message, delivered back to it: the whole exchange went through
        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 0, "the warm-up connection to be cleaned up");
    }

    /// <summary>Opens a new wss connection and returns the thumbprint of the certificate the server presented.</summary>
    private static async Task<string?> PresentedThumbprintAsync(TestServer server)
    {
        string? seen = null;
        await using TestClient client = await TestClient.ConnectAsync(server.WebSocketUri, o => o.RemoteCertificateValidationCallback = (_, presented, _, _) =>
        {
            seen = presented?.GetCertHashString();
            return presented is not null;
        });
        return seen;
    }
}
