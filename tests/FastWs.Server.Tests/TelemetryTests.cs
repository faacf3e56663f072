using System.Net;
using System.Net.Sockets;
using FastWs.Server.Hosting;
using FastWs.Server.Tests.Protection;
using FastWs.Server.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FastWs.Server.Tests;

/// <summary>The OTLP exporter: off by default, validated, and harmless when the collector is not there.</summary>
public sealed class TelemetryTests
{
    private static async Task<string> StartFailsAsync(Action<FastWsOptions> configure)
    {
        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestServer.StartAsync(configure));
        return error.Message;
    }

    /// <summary>A loopback port nothing listens on: bound, then released.</summary>
    private static int DeadPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    [Fact]
    public void Off_by_default()
    {
        Assert.False(new FastWsOptions().Telemetry.OtlpEnabled);
    }

    [Fact]
    public async Task Settings_are_validated_with_the_setting_named()
    {
        Assert.Contains("FastWs:Telemetry:OtlpEndpoint: 'collector:4317' is not an http:// or https:// address",
            await StartFailsAsync(o => o.Telemetry.OtlpEndpoint = "collector:4317"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Telemetry:OtlpEndpoint: 'ftp://127.0.0.1:4317' is not an http:// or https:// address",
            await StartFailsAsync(o => o.Telemetry.OtlpEndpoint = "ftp://127.0.0.1:4317"), StringComparison.Ordinal);
        Assert.Contains("FastWs:Telemetry:ExportInterval: 00:00:00.5000000 must be at least 00:00:01",
            await StartFailsAsync(o => o.Telemetry.ExportInterval = TimeSpan.FromMilliseconds(500)), StringComparison.Ordinal);
        Assert.Contains("FastWs:Telemetry:ExportTimeout: 00:00:00 must be positive",
            await StartFailsAsync(o => o.Telemetry.ExportTimeout = TimeSpan.Zero), StringComparison.Ordinal);
        Assert.Contains("FastWs:Telemetry:ServiceName: must name the service",
            await StartFailsAsync(o => o.Telemetry.ServiceName = " "), StringComparison.Ordinal);
        Assert.Contains("FastWs:Telemetry:OtlpProtocol: '7' is not a protocol",
            await StartFailsAsync(o => o.Telemetry.OtlpProtocol = (OtlpTransport)7), StringComparison.Ordinal);
    }

    [Fact]
    public void Http_endpoint_gets_the_metrics_path_unless_it_has_one()
    {
        Assert.Equal(new Uri("http://127.0.0.1:4318/v1/metrics"), FastWsServer.OtlpEndpoint(new TelemetryOptions
        {
            OtlpEndpoint = "http://127.0.0.1:4318", OtlpProtocol = OtlpTransport.HttpProtobuf,
        }));
        Assert.Equal(new Uri("http://collector/custom/metrics"), FastWsServer.OtlpEndpoint(new TelemetryOptions
        {
            OtlpEndpoint = "http://collector/custom/metrics", OtlpProtocol = OtlpTransport.HttpProtobuf,
        }));
        Assert.Equal(new Uri("http://127.0.0.1:4317"), FastWsServer.OtlpEndpoint(new TelemetryOptions { OtlpEndpoint = "http://127.0.0.1:4317" }));
    }

    [Theory]
    [InlineData(OtlpTransport.Grpc)]
    [InlineData(OtlpTransport.HttpProtobuf)]
    public async Task With_OTLP_on_and_nobody_listening_the_server_starts_serves_and_stops(OtlpTransport protocol)
    {
        int port = DeadPort();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Telemetry.OtlpEndpoint = $"http://127.0.0.1:{port}";
            o.Telemetry.OtlpProtocol = protocol;
            o.Telemetry.ExportInterval = TimeSpan.FromSeconds(1);
            o.Telemetry.ExportTimeout = TimeSpan.FromSeconds(1);
        });

        // The OTLP exporter is in the server's meter provider, beside the Prometheus one.
        Assert.NotNull(server.Server.Services.GetService<MeterProvider>());

        await using TestClient client = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(client, "price:SOL");

        // Let at least two exports fail (every second, against a closed port) while messages flow.
        var until = DateTime.UtcNow.AddSeconds(2.5);
        int published = 0;
        while (DateTime.UtcNow < until)
        {
            await server.Server.Publisher.PublishAsync("price:SOL", "{\"p\":1}");
            published++;
            await client.ReceiveAsync();
            await Task.Delay(50);
        }

        (HttpStatusCode status, string text) = await ProtectionKit.GetAsync(server, "/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        Dictionary<string, double> samples = MetricsTests.ParsePrometheus(text, out _);
        Assert.Equal(published, samples["fastws_messages_out_total"]);
        Assert.Equal(published, samples["fastws_fanout_duration_seconds_count"]);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.Socket.State);
        await client.CloseAsync();
    }
}
