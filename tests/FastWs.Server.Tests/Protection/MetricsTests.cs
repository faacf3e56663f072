using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using FastWs.Protocol.Frames;
using FastWs.Server.Metrics;
using FastWs.Server.Tests.TestSupport;

namespace FastWs.Server.Tests.Protection;

/// <summary>/ws/stats JSON, /metrics in Prometheus text format, and the "FastWs" System.Diagnostics.Metrics meter.</summary>
public sealed partial class MetricsTests
{
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    /// <summary>A sample line: name, optional {labels}, value.</summary>
    [GeneratedRegex("""^(?<name>[^{\s]+)(\{(?<labels>[^}]*)\})? (?<value>-?[0-9.eE+-]+|NaN|[+-]Inf)$""")]
    private static partial Regex SampleLine();

    [Fact]
    public async Task Stats_has_the_documented_shape_and_the_numbers_move_with_traffic()
    {
        await using TestServer server = await TestServer.StartAsync(o =>
        {
            o.Limits.MaxConnections = 1000;
            o.Limits.MaxConnectionsPerIp = 50;
            o.Limits.MaxSubscribersPerKeyGroup = 100;
            o.HandshakeTimeout = TimeSpan.FromSeconds(1); // supervisor ticks every 250 ms: rates sample each second
        });

        JsonElement before = await ProtectionKit.StatsAsync(server);
        Assert.Equal(0, before.GetProperty("totalConnections").GetInt32());
        Assert.Empty(before.GetProperty("connectionsPerSlab").EnumerateObject());
        Assert.Equal(0, before.GetProperty("messagesPerSec").GetInt64());
        Assert.Equal(0, before.GetProperty("bytesPerSec").GetInt64());
        JsonElement limits = before.GetProperty("limits");
        Assert.Equal(1000, limits.GetProperty("maxGlobalConnections").GetInt32());
        Assert.Equal(100, limits.GetProperty("maxConnectionsPerSlab").GetInt32());
        Assert.Equal(50, limits.GetProperty("maxConnectionsPerIp").GetInt32());
        JsonElement counters = before.GetProperty("counters");
        foreach (string name in new[]
        {
            "connectionsTotal", "messagesIn", "bytesIn", "messagesOut", "bytesOut", "messagesSkipped", "published",
            "subscriptionChanges", "heartbeatsSent", "heartbeatsMissed", "rateLimited", "limitRejections", "errors", "handshakeFailures",
        })
        {
            Assert.Equal(0, counters.GetProperty(name).GetInt64());
        }

        Assert.True(before.GetProperty("handshakeFailures").TryGetProperty("timeout", out _));
        Assert.NotEqual(JsonValueKind.Undefined, before.GetProperty("closesByCode").ValueKind);

        // Three subscribers of SOL channels, one of BTC.
        var clients = new List<TestClient>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                clients.Add(await server.ConnectAsync());
            }

            await SubscriptionTests.Subscribe(clients[0], "price:SOL", "trades:SOL");
            await SubscriptionTests.Subscribe(clients[1], "price:SOL");
            await SubscriptionTests.Subscribe(clients[2], "price:SOL");
            await SubscriptionTests.Subscribe(clients[3], "price:BTC");

            JsonElement subscribed = await ProtectionKit.StatsAsync(server);
            Assert.Equal(4, subscribed.GetProperty("totalConnections").GetInt32());
            Assert.Equal(3, subscribed.GetProperty("connectionsPerSlab").GetProperty("SOL").GetInt32());
            Assert.Equal(1, subscribed.GetProperty("connectionsPerSlab").GetProperty("BTC").GetInt32());
            Assert.Equal(5, subscribed.GetProperty("counters").GetProperty("subscriptionChanges").GetInt64());

            // Steady publishing: messagesOut moves by subscribers x published, and the per-second rates catch up
            // within a couple of seconds.
            const int Batch = 50;
            var watch = Stopwatch.StartNew();
            int published = 0;
            JsonElement stats;
            do
            {
                for (int i = 0; i < Batch; i++)
                {
                    await server.Server.Publisher.PublishAsync("price:SOL", "{\"p\":1}");
                }

                published += Batch;
                await Task.Delay(50);
                stats = await ProtectionKit.StatsAsync(server);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"messagesPerSec still 0 after {watch.ElapsedMilliseconds} ms of publishing: {stats}");
            }
            while (stats.GetProperty("messagesPerSec").GetInt64() == 0);

            Assert.True(stats.GetProperty("bytesPerSec").GetInt64() > stats.GetProperty("messagesPerSec").GetInt64());
            Assert.True(stats.GetProperty("publishedPerSec").GetInt64() > 0);
            for (int n = 0; n < published; n++)
            {
                foreach (TestClient client in clients.Take(3))
                {
                    await client.ReceiveAsync();
                }
            }

            stats = await ProtectionKit.StatsAsync(server);
            counters = stats.GetProperty("counters");
            Assert.Equal(published * 3L, counters.GetProperty("messagesOut").GetInt64());
            Assert.Equal(published, counters.GetProperty("published").GetInt64());
            long frameBytes = 2 + """{"type":"message","channel":"price:SOL","seq":1,"data":{"p":1}}""".Length; // seq grows: at least this
            Assert.True(counters.GetProperty("bytesOut").GetInt64() >= published * 3L * frameBytes);
            Assert.NotEmpty(stats.GetProperty("lastMinute").GetProperty("messagesOutPerSec").EnumerateArray());

            // Client messages in; errors.
            await clients[3].SendAsync("""{"type":"ping"}""");
            await clients[3].ReceiveAsync();
            await clients[3].SendAsync("nonsense");
            await clients[3].ReceiveTypeAsync("error");
            counters = (await ProtectionKit.StatsAsync(server)).GetProperty("counters");
            Assert.Equal(4 + 2L, counters.GetProperty("messagesIn").GetInt64()); // 4 subscribes, a ping and the nonsense
            Assert.Equal(1, counters.GetProperty("errors").GetInt64());
            Assert.Equal(4, counters.GetProperty("connectionsTotal").GetInt64());

            foreach (TestClient client in clients)
            {
                await client.CloseAsync();
            }
        }
        finally
        {
            foreach (TestClient client in clients)
            {
                await client.DisposeAsync();
            }
        }

        await ProtectionKit.AssertNothingLeftAsync(server);
        JsonElement after = await ProtectionKit.StatsAsync(server);
        Assert.Equal(0, after.GetProperty("totalConnections").GetInt32());
        Assert.Empty(after.GetProperty("connectionsPerSlab").EnumerateObject());
        Assert.Equal(4, after.GetProperty("closesByCode").GetProperty("1000").GetInt64());
    }

    [Fact]
    public async Task Rates_are_sampled_once_a_second_with_the_default_one_second_tick()
    {
        // With nothing configured shorter, the supervisor ticks every second; each tick must yield a sample, or
        // the "last 60 s" series would cover two minutes at half the resolution.
        await using TestServer server = await TestServer.StartAsync();
        await TestServer.WaitUntilAsync(() => server.State.Metrics.Rates.History().Length >= 1, "the first rate sample", TimeSpan.FromSeconds(5));
        var watch = Stopwatch.StartNew();
        int first = server.State.Metrics.Rates.History().Length;

        await Task.Delay(TimeSpan.FromSeconds(3.4));

        int samples = server.State.Metrics.Rates.History().Length - first;
        Assert.True(samples >= 3, $"{samples} rate samples in {watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Prometheus_text_has_HELP_and_TYPE_for_every_metric_valid_names_labelled_events_and_the_latency_histograms()
    {
        await using TestServer server = await TestServer.StartAsync(o => o.Limits.MaxMessagesPerWindow = 0);

        // Some events to label: a 404 and a bad key, a client close 1000, a protocol error 1002.
        await using (RawClient notFound = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await notFound.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/nope", RawClient.NewKey()));
            Assert.Equal(404, (await notFound.ReadHttpResponseAsync()).StatusCode);
        }

        await using (RawClient badKey = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await badKey.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/ws", "short"));
            Assert.Equal(400, (await badKey.ReadHttpResponseAsync()).StatusCode);
        }

        await using (TestClient normal = await server.ConnectAsync())
        {
            await SubscriptionTests.Subscribe(normal, "price:SOL");
            await server.Server.Publisher.PublishAsync("price:SOL", "1");
            await normal.ReceiveAsync();
            await normal.CloseAsync();
        }

        await using (RawClient violator = await RawClient.ConnectWebSocketAsync(server.WebSocketEndPoint))
        {
            await violator.SendAsync(ProtectionKit.Frame(0x83, "{}"u8)); // reserved opcode
            Assert.Equal(CloseCode.ProtocolError, (await violator.ReadFrameAsync()).CloseStatus);
        }

        await using TestClient stays = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(stays, "trades:ETH");
        await TestServer.WaitUntilAsync(
            () => server.State.Metrics.ConnectionsActive == 1 && server.State.Metrics.HandshakeFailuresTotal == 2,
            "the other connections to end and be counted (the counts follow the responses and the closes)");

        (HttpStatusCode status, string text) = await ProtectionKit.GetAsync(server, "/metrics");
        Assert.Equal(HttpStatusCode.OK, status);
        Dictionary<string, double> samples = ParsePrometheus(text, out Dictionary<string, string> type);

        foreach (string counter in MetricsCatalog.Counters.Select(c => $"fastws_{c.Name}_total"))
        {
            Assert.True(samples.ContainsKey(counter), $"{counter} missing");
        }

        Assert.Equal("gauge", type["fastws_messages_out_per_second"]);
        Assert.Equal("gauge", type["fastws_bytes_out_per_second"]);
        Assert.Equal("counter", type["fastws_closes_total"]);

        // The latency histograms: one fan-out (the publish, measured from queue to socket), the three upgrades.
        foreach (string histogram in new[] { "fastws_fanout_duration_seconds", "fastws_publish_delay_seconds", "fastws_handshake_duration_seconds" })
        {
            Assert.Equal("histogram", type[histogram]);
            double count = samples[histogram + "_count"];
            Assert.Equal(count, samples[histogram + "_bucket{le=\"+Inf\"}"]);
            Assert.True(samples[histogram + "_sum"] >= 0);
            Assert.True(samples[histogram + "_bucket{le=\"1E-05\"}"] <= samples[histogram + "_bucket{le=\"5\"}"]);
        }

        Assert.True(samples["fastws_fanout_duration_seconds_count"] >= 1);
        Assert.True(samples["fastws_publish_delay_seconds_count"] >= 1);
        Assert.True(samples["fastws_handshake_duration_seconds_count"] >= 3);
    }

    /// <summary>
    /// Parses Prometheus text format 0.0.4 strictly: every family has exactly one HELP (with text) and one TYPE of a
    /// known kind, every sample belongs to a family announced before it (histograms by their _bucket, _sum and _count
    /// series), names are valid, counters end in _total and are not negative. OpenTelemetry's exporter puts the meter
    /// in otel_scope_name/otel_scope_version labels on every FastWs sample: checked here, then left out of the keys.
    /// Keys are the name plus the remaining labels as written: <c>fastws_closes_total{code="1000"}</c>.
    /// </summary>
    internal static Dictionary<string, double> ParsePrometheus(string text, out Dictionary<string, string> type)
    {
        var help = new HashSet<string>();
        type = new Dictionary<string, string>();
        var samples = new Dictionary<string, double>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ', 4);
                Assert.True(parts.Length == 4 && parts[3].Length > 0, $"HELP without text: {line}");
                Assert.True(help.Add(parts[2]), $"Second HELP for {parts[2]}");
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line.Split(' ');
                Assert.Equal(4, parts.Length);
                Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                Assert.True(type.TryAdd(parts[2], parts[3]), $"Second TYPE for {parts[2]}");
                continue;
            }

            Assert.False(line.StartsWith('#'), $"Unexpected comment: {line}");
            Match sample = SampleLine().Match(line);
            Assert.True(sample.Success, $"Not a sample line: '{line}'");
            string name = sample.Groups["name"].Value;
            Assert.Matches(MetricName(), name);
            string family = name;
            if (!type.ContainsKey(family))
            {
                foreach (string suffix in new[] { "_bucket", "_sum", "_count" })
                {
                    if (name.EndsWith(suffix, StringComparison.Ordinal) && type.TryGetValue(name[..^suffix.Length], out string? kind) && kind == "histogram")
                    {
                        family = name[..^suffix.Length];
                    }
                }
            }

            Assert.True(type.TryGetValue(family, out string? familyType), $"Sample of {name} without a preceding # TYPE");
            Assert.True(help.Contains(family), $"Sample of {name} without a preceding # HELP");
            double value = double.Parse(sample.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (familyType == "counter")
            {
                Assert.EndsWith("_total", name, StringComparison.Ordinal);
                Assert.True(value >= 0);
            }

            string labels = sample.Groups["labels"].Success ? sample.Groups["labels"].Value : string.Empty;
            if (name.StartsWith("fastws_", StringComparison.Ordinal))
            {
                const string Scope = "otel_scope_name=\"FastWs\",otel_scope_version=\"";
                Assert.StartsWith(Scope, labels, StringComparison.Ordinal);
                int end = labels.IndexOf('"', Scope.Length);
                labels = labels[(end + 1)..].TrimStart(',');
            }

            Assert.True(samples.TryAdd(name + (labels.Length > 0 ? "{" + labels + "}" : string.Empty), value), $"Second sample: {line}");
        }

        return samples;
    }

    [Fact]
    public async Task FastWs_meter_reports_the_server_counters_to_a_MeterListener()
    {
        await using TestServer server = await TestServer.StartAsync();
        Meter meter = server.State.Meter.Meter;
        Assert.Equal("FastWs", meter.Name);

        var instruments = new List<string>();
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Every server in this process has a meter named FastWs: only this server's instruments count here.
            if (instrument.Meter.Name == FastWsMeter.MeterName && ReferenceEquals(instrument.Meter, meter))
            {
                lock (instruments)
                {
                    instruments.Add(instrument.Name);
                }

                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key += $"{{{tag.Key}={tag.Value}}}";
            }

            values[key] = value;
        });
        listener.Start();

        lock (instruments)
        {
            Assert.Contains("fastws.connections.active", instruments);
            Assert.Contains("fastws.messages.out", instruments);
            Assert.Contains("fastws.connections", instruments);
            Assert.Contains("fastws.heartbeats.missed", instruments);
            Assert.Contains("fastws.closes", instruments);
            Assert.Contains("fastws.handshake.failures.by_reason", instruments);
        }

        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, "price:SOL");
        await SubscriptionTests.Subscribe(b, "price:SOL");
        for (int i = 1; i <= 10; i++)
        {
            await server.Server.Publisher.PublishAsync("price:SOL", "1");
        }

        for (int i = 1; i <= 10; i++)
        {
            await a.ReceiveAsync();
            await b.ReceiveAsync();
        }

        await using (RawClient notFound = await RawClient.ConnectAsync(server.WebSocketEndPoint))
        {
            await notFound.SendAsync(RawClient.UpgradeRequest(server.WebSocketEndPoint, "/nope", RawClient.NewKey()));
            Assert.Equal(404, (await notFound.ReadHttpResponseAsync()).StatusCode);
        }

        await TestServer.WaitUntilAsync(() => server.State.Metrics.HandshakeFailuresTotal == 1, "the 404 to be counted (just after it is sent)");
        listener.RecordObservableInstruments();

        Assert.Equal(2, values["fastws.connections.active"]);
        Assert.Equal(2, values["fastws.connections"]);
        Assert.Equal(20, values["fastws.messages.out"]);
        Assert.Equal(server.State.Metrics.MessagesOut, values["fastws.messages.out"]);
        Assert.Equal(10, values["fastws.published"]);
        Assert.Equal(1, values["fastws.channels"]);
        Assert.Equal(2, values["fastws.connections.per_key_group{group=SOL}"]);
        Assert.Equal(1, values["fastws.handshake.failures.by_reason{reason=not_found}"]);

        await a.CloseAsync();
        await TestServer.WaitUntilAsync(() => server.State.Metrics.ConnectionsActive == 1, "a's connection to end");
        listener.RecordObservableInstruments();
        Assert.Equal(1, values["fastws.connections.active"]);
        Assert.Equal(1, values["fastws.closes{code=1000}"]);
        Assert.Equal(1, values["fastws.connections.per_key_group{group=SOL}"]);
        Assert.Equal(WebSocketState.Open, b.Socket.State);
    }

    [Fact]
    public async Task Latency_histograms_record_fan_out_publish_delay_and_handshakes_per_message_not_per_subscriber()
    {
        await using TestServer server = await TestServer.StartAsync();
        Meter meter = server.State.Meter.Meter;
        var recorded = new Dictionary<string, List<double>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument is Histogram<double>)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            lock (recorded)
            {
                Assert.Equal(0, tags.Length);
                (recorded.TryGetValue(instrument.Name, out List<double>? values) ? values : recorded[instrument.Name] = []).Add(value);
            }
        });
        listener.Start();

        await using TestClient a = await server.ConnectAsync();
        await using TestClient b = await server.ConnectAsync();
        await using TestClient c = await server.ConnectAsync();
        await SubscriptionTests.Subscribe(a, "price:SOL");
        await SubscriptionTests.Subscribe(b, "price:SOL");
        await SubscriptionTests.Subscribe(c, "price:SOL");
        var watch = Stopwatch.StartNew();
        for (int i = 1; i <= 5; i++)
        {
            await server.Server.Publisher.PublishAsync("price:SOL", "1");
        }

        foreach (TestClient client in new[] { a, b, c })
        {
            for (int i = 1; i <= 5; i++)
            {
                await client.ReceiveAsync();
            }
        }

        double elapsed = watch.Elapsed.TotalSeconds;
        lock (recorded)
        {
            // Three connections upgraded while listening: three handshakes, each under the test's own time for them.
            Assert.Equal(3, recorded[ServerHistograms.HandshakeName].Count);
            Assert.All(recorded[ServerHistograms.HandshakeName], v => Assert.InRange(v, 0, 30));

            // Five messages to three subscribers: five values each (per message), not fifteen (per subscriber).
            Assert.Equal(5, recorded[ServerHistograms.FanOutName].Count);
            Assert.Equal(5, recorded[ServerHistograms.PublishDelayName].Count);
            Assert.All(recorded[ServerHistograms.FanOutName], v => Assert.InRange(v, 0, elapsed));
            Assert.All(recorded[ServerHistograms.PublishDelayName], v => Assert.InRange(v, 0, elapsed));
            for (int i = 0; i < 5; i++)
            {
                Assert.True(recorded[ServerHistograms.PublishDelayName][i] <= recorded[ServerHistograms.FanOutName][i],
                    "the first write of a message starts before its last ends");
            }
        }
    }

    [Fact]
    public async Task Each_server_in_a_process_exports_only_its_own_meter()
    {
        // Every server's meter is named FastWs; an exporter listening by name alone would report the other servers'
        // instruments too (a second series of the same name, or the sum of both).
        await using TestServer a = await TestServer.StartAsync();
        await using TestServer b = await TestServer.StartAsync();
        await using TestClient one = await a.ConnectAsync();
        await using TestClient two = await a.ConnectAsync();
        await TestServer.WaitUntilAsync(() => a.State.Metrics.ConnectionsActive == 2, "a's two connections");

        (HttpStatusCode statusA, string textA) = await ProtectionKit.GetAsync(a, "/metrics");
        (HttpStatusCode statusB, string textB) = await ProtectionKit.GetAsync(b, "/metrics");
        Assert.Equal(HttpStatusCode.OK, statusA);
        Assert.Equal(HttpStatusCode.OK, statusB);
        Dictionary<string, double> samplesA = ParsePrometheus(textA, out _);
        Dictionary<string, double> samplesB = ParsePrometheus(textB, out _);
        Assert.Equal(2, samplesA["fastws_connections_active"]);
        Assert.Equal(a.State.Metrics.ConnectionsTotal, samplesA["fastws_connections_total"]);
        Assert.Equal(0, samplesB["fastws_connections_active"]);
        Assert.Equal(b.State.Metrics.ConnectionsTotal, samplesB["fastws_connections_total"]);
    }
}
