using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using FastWs.Server.Messages;
using ChannelState = FastWs.Server.Channels.Channel;

namespace FastWs.Benchmarks;

/// <summary>
/// Encoding what the server sends, each as a complete text frame: a data message
/// (<see cref="DataFrameEncoder.Encode"/>, done once per published message) and the replies written through
/// <see cref="ReplyEncoder"/> (its per-thread encoder is created on first use, so 0 B holds after warm-up).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class EventJsonWriteBenchmarks
{
    /// <summary>The same 76-byte price tick as the publish benchmarks.</summary>
    private static readonly byte[] s_data =
        Encoding.UTF8.GetBytes("{\"symbol\":\"SOL\",\"price\":187.42,\"bid\":187.41,\"ask\":187.43,\"ts\":1732252800123}");

    private readonly ChannelState _channel = new("price:SOL", new NamespaceOptions(), 0);
    private DataFrameEncoder _encoder = null!;
    private long _sequence = 1_000_000_000;

    [GlobalSetup]
    public void Setup()
    {
        _encoder = new DataFrameEncoder();

        ReadOnlySpan<byte> frame = _encoder.Encode(_channel, 42, s_data).Span;
        ExpectFrame(frame, "{\"type\":\"message\",\"channel\":\"price:SOL\",\"seq\":42,\"data\":" + Encoding.UTF8.GetString(s_data) + "}");
        ExpectFrame(ReplyEncoder.Pong(), "{\"type\":\"pong\"}");

        string error = ExpectFrame(ErrorReply(), null);
        using (JsonDocument document = JsonDocument.Parse(error))
        {
            JsonElement root = document.RootElement;
            if (root.GetProperty("type").GetString() != "error" || root.GetProperty("code").GetString() != ErrorCode.InvalidChannel
                || root.GetProperty("channel").GetString() != "prices:SOL" || root.GetProperty("id").GetInt32() != 7)
            {
                throw new InvalidOperationException("Unexpected error reply: " + error);
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _encoder.Dispose();

    /// <summary>A data message for a 76-byte payload with a ten-digit sequence number; returns the frame length.</summary>
    [Benchmark]
    [Throughput(76)]
    public int DataMessage() => _encoder.Encode(_channel, ++_sequence, s_data).Length;

    /// <summary><c>{"type":"pong"}</c>, the answer to a JSON ping.</summary>
    [Benchmark]
    public int Pong() => ReplyEncoder.Pong().Length;

    /// <summary>An invalid_channel error echoing the channel and the request's id, as a bad subscribe gets.</summary>
    [Benchmark]
    public int Error() => ErrorReply().Length;

    private static ReadOnlySpan<byte> ErrorReply() =>
        ReplyEncoder.Error(ErrorCode.InvalidChannel, "Unknown channel namespace", "prices:SOL", "7"u8);

    /// <summary>Checks that <paramref name="frame"/> is one unmasked final text frame and, when given, that it carries exactly <paramref name="payload"/>; returns its payload.</summary>
    private static string ExpectFrame(ReadOnlySpan<byte> frame, string? payload)
    {
        int header = frame.Length > 1 && frame[1] == 126 ? 4 : 2;
        string actual = Encoding.UTF8.GetString(frame[header..]);
        if (!frame.SequenceEqual(TestData.TextFrame(payload ?? actual)))
        {
            throw new InvalidOperationException($"Unexpected frame: {actual}");
        }

        return actual;
    }
}
