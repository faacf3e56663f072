using System.IO.Pipelines;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.Hosting;
using Microsoft.AspNetCore.Connections;

namespace FastWs.Benchmarks;

/// <summary>
/// One fan-out batch: five publishes queued the way a publisher's read loop queues the publishes of one read
/// (<c>MessagePublisher.PublishValidatedAsync</c> with deferred delivery), then delivered together
/// (<c>DeliverQueued</c>), to 50 subscriber writes in all. <see cref="Layout"/> picks the shape: five channels of
/// ten subscribers each, one message per channel (workload (c)'s shape: every write can go straight to its socket),
/// or one channel of ten subscribers that gets all five (workload (a)'s and (e)'s: the five frames are encoded back
/// to back as one run, and each subscriber gets the run in one write).
/// </summary>
/// <remarks>
/// The subscribers' socket takes every byte and does nothing with it, so this is FastWs's own cost per batch
/// (validation, queueing, numbering, encoding, the writes and flushes), without the kernel's. With the
/// SocketOutput of production, as <see cref="SocketPublishBenchmarks"/> uses, but no socket.
/// </remarks>
[MemoryDiagnoser]
public class PublishBatchBenchmarks
{
    private const int Messages = 5;

    private static readonly byte[] Data = PublishFixture.Data;

    private ServerState _state = null!;
    private string[] _channelOfMessage = [];
    private DiscardSocket[] _sockets = [];

    /// <summary>How the batch's five messages and its subscribers are spread over channels.</summary>
    public enum BatchLayout
    {
        /// <summary>Five channels with ten subscribers each, one message for each channel.</summary>
        FiveChannels,

        /// <summary>One channel with ten subscribers, all five messages for it.</summary>
        OneChannel,
    }

    [Params(BatchLayout.FiveChannels, BatchLayout.OneChannel)]
    public BatchLayout Layout { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new FastWsOptions { FanOutShards = 1 };
        options.Limits.MaxSubscribersPerKeyGroup = 0;
        PublishFixture.Plain(options);
        _state = new ServerState(options);
        var subscriptions = new SubscriptionManager(_state);

        int channels = Layout == BatchLayout.FiveChannels ? Messages : 1;
        _channelOfMessage = [.. Enumerable.Range(0, Messages).Select(i => "price:BATCH" + (i % channels).ToString(System.Globalization.CultureInfo.InvariantCulture))];
        _sockets = new DiscardSocket[channels * 10];
        for (int i = 0; i < _sockets.Length; i++)
        {
            _sockets[i] = new DiscardSocket();
            DefaultConnectionContext context = InMemoryTransport.CreateSocketContext("bench-batch-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            context.Features.Set<ISocketSender>(_sockets[i]);
            var connection = new WebSocketConnection(context, _state.Metrics, IPAddress.Loopback);
            if (!subscriptions.Subscribe(connection, _channelOfMessage[i % channels], out _).IsOk)
            {
                throw new InvalidOperationException("Subscribe failed.");
            }
        }

        Verify();
    }

    [GlobalCleanup]
    public void Cleanup() => _state.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public int PublishBatch()
    {
        string[] channels = _channelOfMessage;
        for (int i = 0; i < channels.Length; i++)
        {
            ValueTask<FastWs.Server.FanOut.PublishResult> queued = _state.Publisher.PublishValidatedAsync(channels[i], Data, CancellationToken.None, deferDelivery: true);
            if (!queued.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("The queue is full.");
            }
        }

        _state.Publisher.DeliverQueued();
        return channels.Length;
    }

    /// <summary>Each subscriber gets its channel's messages, whole, in as many writes as the layout needs.</summary>
    private void Verify()
    {
        long before = _state.Metrics.MessagesOut;
        PublishBatch();
        if (_state.Metrics.MessagesOut - before != 50)
        {
            throw new InvalidOperationException($"Delivered {_state.Metrics.MessagesOut - before} messages, expected 50.");
        }

        // Either way one write per subscriber: its one message, or its five together.
        int messagesEach = Layout == BatchLayout.FiveChannels ? 1 : Messages;
        foreach (DiscardSocket socket in _sockets)
        {
            string text = Encoding.UTF8.GetString(socket.Last.Span);
            int count = text.Split("\"type\":\"message\"").Length - 1;
            if (socket.Writes != 1 || count != messagesEach)
            {
                throw new InvalidOperationException($"A subscriber got {count} messages in {socket.Writes} writes, expected {messagesEach} in 1.");
            }
        }
    }

    /// <summary>A socket with room for everything: counts the writes and keeps the last one (the check only).</summary>
    private sealed class DiscardSocket : ISocketSender
    {
        public int Writes { get; private set; }

        public ReadOnlyMemory<byte> Last { get; private set; }

        public int TrySend(ReadOnlySpan<byte> bytes)
        {
            if (Writes++ == 0)
            {
                Last = bytes.ToArray();
            }

            return bytes.Length;
        }

        public ValueTask<bool> SendAllAsync(ReadOnlyMemory<byte> bytes) => new(true);
    }
}
