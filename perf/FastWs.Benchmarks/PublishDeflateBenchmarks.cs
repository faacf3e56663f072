using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastWs.Protocol.Compression;
using FastWs.Server.Connections;

namespace FastWs.Benchmarks;

/// <summary>
/// Outbound permessage-deflate: publishing a 1 KB JSON price object to <see cref="Subscribers"/> subscribers of
/// which all, half or none negotiated the extension (<see cref="Deflate"/>), through <c>FanOutShard.DeliverNow</c>
/// as <see cref="PublishBenchmarks"/> does, into discarding outputs. The message is compressed once per publish
/// (not per subscriber), so "Allocated" (per publish) must not grow with the subscribers: 0 B per delivery.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PublishConfig))]
public class PublishDeflateBenchmarks
{
    /// <summary>Who negotiated permessage-deflate.</summary>
    public enum Share
    {
        None,
        Half,
        All,
    }

    /// <summary>A 1 KB price object as a feed publishes it: an order book side by side, repeated keys, similar numbers.</summary>
    public static readonly byte[] PriceObject = Encoding.UTF8.GetBytes("{\"symbol\":\"SOL\",\"ts\":1732252800123,\"levels\":[" + string.Join(",",
        Enumerable.Range(0, 22).Select(i => string.Create(CultureInfo.InvariantCulture,
            $"{{\"price\":{187.40 + (i * 0.01):F2},\"size\":{10.5 + (i % 4):F1},\"side\":\"{(i < 11 ? "bid" : "ask")}\"}}"))) + "]}");

    private PublishFixture _fixture = null!;
    private DiscardPipeWriter[] _discards = [];

    [Params(100, 1000)]
    public int Subscribers { get; set; }

    [Params(Share.None, Share.Half, Share.All)]
    public Share Deflate { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new PublishFixture(data: PriceObject);
        _discards = new DiscardPipeWriter[Subscribers];
        PerMessageDeflateNegotiation.TryNegotiate("permessage-deflate; client_max_window_bits", null, out DeflateParameters deflate);
        for (int i = 0; i < Subscribers; i++)
        {
            WebSocketConnection connection = InMemoryTransport.CreateConnection(_discards[i] = new DiscardPipeWriter(), _fixture.State.Metrics, i);
            if (Deflate == Share.All || (Deflate == Share.Half && i % 2 == 0))
            {
                connection.Deflate = deflate;
            }

            _fixture.Subscribe(connection);
        }

        _fixture.Ready(Subscribers);
        Verify();
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark]
    public int Publish()
    {
        _fixture.DeliverOnce();
        return Subscribers;
    }

    /// <summary>Every subscriber got one frame per publish: the compressed one (smaller) if it negotiated deflate.</summary>
    private void Verify()
    {
        _fixture.DeliverOnce();
        int plain = PublishFixture.ExpectedFrame(PublishFixture.FirstSequence).Length - PublishFixture.Data.Length + PriceObject.Length;
        for (int i = 0; i < Subscribers; i++)
        {
            bool deflated = Deflate == Share.All || (Deflate == Share.Half && i % 2 == 0);
            long bytes = _discards[i].BytesWritten;
            if (deflated ? bytes >= plain / 2 : bytes != plain)
            {
                throw new InvalidOperationException($"Subscriber {i} (deflate: {deflated}) got {bytes} bytes; the plain frame is {plain}.");
            }
        }

        Console.WriteLine($"// Frame bytes per message: plain {plain}, deflated {(Deflate == Share.None ? "-" : _discards[0].BytesWritten.ToString(CultureInfo.InvariantCulture))}");
        _fixture.RestartSequence();
    }
}
