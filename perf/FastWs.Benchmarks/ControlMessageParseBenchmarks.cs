using System.Text;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Messages;

namespace FastWs.Benchmarks;

/// <summary>
/// <see cref="ClientRequestParser.TryParse"/> on the client messages a server sees most (docs/protocol.md). One
/// operation = one message parsed into a <see cref="ClientRequest"/> of slices into the payload.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ReportConfig))]
public class ControlMessageParseBenchmarks
{
    private static readonly byte[] s_subscribe =
        Encoding.UTF8.GetBytes("{\"type\":\"subscribe\",\"channels\":[\"price:SOL\",\"trades:SOL\"],\"id\":7}");

    private static readonly byte[] s_publish = Encoding.UTF8.GetBytes(
        "{\"type\":\"publish\",\"channel\":\"price:SOL\",\"data\":{\"symbol\":\"SOL\",\"price\":187.42,\"bid\":187.41,\"ask\":187.43,\"ts\":1732252800123},\"id\":9}");

    private static readonly byte[] s_ping = Encoding.UTF8.GetBytes("{\"type\":\"ping\"}");

    [GlobalSetup]
    public void Setup()
    {
        ClientRequest request = Parse(s_subscribe);
        Expect(request.Type == ClientRequestType.Subscribe && request.Channels.SequenceEqual("[\"price:SOL\",\"trades:SOL\"]"u8)
            && request.Id.SequenceEqual("7"u8), "subscribe");

        request = Parse(s_publish);
        Expect(request.Type == ClientRequestType.Publish && request.Channel.SequenceEqual("\"price:SOL\""u8)
            && request.Data.SequenceEqual("{\"symbol\":\"SOL\",\"price\":187.42,\"bid\":187.41,\"ask\":187.43,\"ts\":1732252800123}"u8)
            && request.Id.SequenceEqual("9"u8), "publish");

        request = Parse(s_ping);
        Expect(request.Type == ClientRequestType.Ping && request.Id.IsEmpty, "ping");

        Expect(Subscribe() == 2 && Publish() == 76 && Ping() == (int)ClientRequestType.Ping, "benchmark results");
    }

    /// <summary>Returns the number of channel names (2).</summary>
    [Benchmark]
    [Throughput(65)]
    public int Subscribe()
    {
        ClientRequestParser.TryParse(s_subscribe, out ClientRequest request, out _);
        return request.Channels.Count((byte)',') + 1;
    }

    /// <summary>Returns the length of the data slice.</summary>
    [Benchmark]
    [Throughput(131)]
    public int Publish()
    {
        ClientRequestParser.TryParse(s_publish, out ClientRequest request, out _);
        return request.Data.Length;
    }

    [Benchmark]
    [Throughput(15)]
    public int Ping()
    {
        ClientRequestParser.TryParse(s_ping, out ClientRequest request, out _);
        return (int)request.Type;
    }

    private static ClientRequest Parse(byte[] json)
    {
        if (!ClientRequestParser.TryParse(json, out ClientRequest request, out string error))
        {
            throw new InvalidOperationException($"{Encoding.UTF8.GetString(json)} did not parse: {error}");
        }

        return request;
    }

    private static void Expect(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Unexpected parse result: " + what);
        }
    }
}
