using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.Protection;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Auth;

/// <summary>Authentication failures by reason, successes, refreshes, expiries and Origin rejections in /ws/stats, /metrics and the meter.</summary>
public sealed class AuthMetricsTests
{
    [Fact]
    public async Task Identity_counters_reach_every_exporter()
    {
        using var tokens = new TokenFactory();
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            tokens.Configure(o);
            o.AllowedOrigins = ["https://desk.example.com"];
        });

        await using (TestClient good = await AuthKit.ConnectWithHeaderAsync(server, tokens.Create()))
        {
            await good.SendAsync($$"""{"type":"auth","token":"{{tokens.Create()}}"}""");
            await good.ReceiveTypeAsync("authenticated");
        }

        await using (TestClient bad = await AuthKit.ConnectWithQueryAsync(server, tokens.Create(issuer: "https://evil.test")))
        {
            await AuthKit.AssertRefusedAsync(bad);
        }

        await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() =>
            TestClient.ConnectAsync(server.WebSocketUri, o => o.SetRequestHeader("Origin", "https://evil.example")));

        JsonElement stats = await ProtectionKit.StatsAsync(server);
        JsonElement counters = stats.GetProperty("counters");
        Assert.Equal(1, counters.GetProperty("authSuccesses").GetInt64());
        Assert.Equal(1, counters.GetProperty("authFailures").GetInt64());
        Assert.Equal(1, counters.GetProperty("tokenRefreshes").GetInt64());
        Assert.Equal(0, counters.GetProperty("tokenExpiries").GetInt64());
        Assert.Equal(1, counters.GetProperty("originRejections").GetInt64());
        Assert.Equal(1, stats.GetProperty("authFailures").GetProperty("wrong_issuer").GetInt64());
        Assert.Equal(1, stats.GetProperty("closesByCode").GetProperty("4001").GetInt64());

        (_, string text) = await ProtectionKit.GetAsync(server, "/metrics");
        Dictionary<string, double> samples = MetricsTests.ParsePrometheus(text, out _);
        Assert.Equal(1, samples["fastws_auth_failures_total"]);
        Assert.Equal(1, samples["fastws_auth_failures_by_reason_total{reason=\"wrong_issuer\"}"]);
        Assert.Equal(1, samples["fastws_token_refreshes_total"]);
        Assert.Equal(1, samples["fastws_origin_rejections_total"]);
        Assert.Equal(1, samples["fastws_closes_total{code=\"4001\"}"]);

        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, server.State.Meter.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = new StringBuilder(instrument.Name);
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key.Append('{').Append(tag.Key).Append('=').Append(tag.Value).Append('}');
            }

            values[key.ToString()] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(1, values["fastws.auth.successes"]);
        Assert.Equal(1, values["fastws.auth.failures"]);
        Assert.Equal(1, values["fastws.auth.failures.by_reason{reason=wrong_issuer}"]);
        Assert.Equal(1, values["fastws.token.refreshes"]);
        Assert.Equal(1, values["fastws.origin.rejections"]);
        Assert.Equal(FastWsMeter.MeterName, server.State.Meter.Meter.Name);
    }
}
