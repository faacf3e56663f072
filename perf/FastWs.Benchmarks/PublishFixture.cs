using System.Text;
using FastWs.Server.Channels;
using FastWs.Server.Connections;
using FastWs.Server.FanOut;
using FastWs.Server.Hosting;
using ChannelState = FastWs.Server.Channels.Channel;

namespace FastWs.Benchmarks;

/// <summary>
/// What the publish benchmarks share: a real <see cref="ServerState"/>, subscribers on one channel through the
/// real <see cref="SubscriptionManager"/>, a fan-out shard, and one message handed over the way
/// <c>MessagePublisher</c> does it.
/// </summary>
internal sealed class PublishFixture : IDisposable
{
    public const string ChannelName = "price:SOL";

    /// <summary>A typical price tick, 76 bytes.</summary>
    public static readonly byte[] Data = Encoding.UTF8.GetBytes(
        "{\"symbol\":\"SOL\",\"price\":187.42,\"bid\":187.41,\"ask\":187.43,\"ts\":1732252800123}");

    /// <summary>The sequence number the first measured publish gets: ten digits, so every frame has the same length.</summary>
    public const long FirstSequence = 1_000_000_000;

    private readonly SubscriptionManager _subscriptions;
    private FanOutShard? _shard;
    private ChannelState? _channel;

    /// <param name="format">How <c>price</c> messages go out (the other publish benchmarks keep the envelope they always measured).</param>
    /// <param name="history">Keep a history ring of 1,000 messages, as <c>trades</c> does by default (one append per message).</param>
    /// <param name="data">What each publish carries; <see cref="Data"/> unless given.</param>
    public PublishFixture(MessageFormat format = MessageFormat.Envelope, bool history = false, byte[]? data = null)
    {
        Payload = data ?? Data;
        var options = new FastWsOptions { FanOutShards = 1 };
        options.Limits.MaxSubscribersPerKeyGroup = 0; // the default (100) would refuse most subscribers
        Plain(options);
        Format = format;
        options.Namespaces["price"].Format = format;
        options.Namespaces["price"].History.Size = history ? 1000 : 0;
        State = new ServerState(options);
        _subscriptions = new SubscriptionManager(State);
    }

    public ServerState State { get; }

    /// <summary>The published JSON.</summary>
    public byte[] Payload { get; }

    public MessageFormat Format { get; }

    /// <summary>
    /// Every namespace delivers plainly: no conflation, no snapshot, no history, no retention (the market-data
    /// defaults are measured on their own: <c>MessageFormatBenchmarks</c>, <c>TypedPublishBenchmarks</c>).
    /// </summary>
    public static void Plain(FastWsOptions options)
    {
        foreach (NamespaceOptions settings in options.Namespaces.Values)
        {
            settings.DeliverPlainly();
        }
    }

    public void Subscribe(WebSocketConnection connection)
    {
        SubscriptionResult result = _subscriptions.Subscribe(connection, ChannelName, out _);
        if (!result.IsOk)
        {
            throw new InvalidOperationException($"Subscribe failed: {result.ErrorCode} {result.Message}");
        }
    }

    /// <summary>Call after subscribing everyone: checks the channel and creates the shard.</summary>
    public void Ready(int subscribers)
    {
        if (!State.Channels.TryGet(ChannelName, out _channel) || _channel.SubscriberCount != subscribers)
        {
            throw new InvalidOperationException("The channel does not have the expected subscribers.");
        }

        _shard = new FanOutShard(16, State.Metrics, histograms: State.Meter.Histograms);
        RestartSequence();
    }

    /// <summary>The next publish gets <see cref="FirstSequence"/> again.</summary>
    public void RestartSequence() => _channel!.LastSequence = FirstSequence - 1;

    /// <summary>
    /// Copies the data into a buffer from PendingMessage.DataPool (as <c>MessagePublisher.PublishValidatedAsync</c>
    /// does; delivery returns it, and it takes the queue timestamp the same way: none while no listener is attached) and delivers it on this thread: <c>FanOutShard.DeliverNow</c>.
    /// </summary>
    public void DeliverOnce()
    {
        byte[] copy = PendingMessage.DataPool.Rent(Payload.Length);
        Payload.CopyTo(copy, 0);
        _shard!.DeliverNow(new PendingMessage(_channel!, copy, Payload.Length, State.Meter.Histograms.QueueStamp()));
    }

    /// <summary>The complete frame every subscriber must get for the message numbered <paramref name="sequence"/>.</summary>
    public static byte[] ExpectedFrame(long sequence, MessageFormat format = MessageFormat.Envelope)
    {
        string seq = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string data = Encoding.UTF8.GetString(Data);
        return TestData.TextFrame(format == MessageFormat.Inline
            ? data[..^1] + ",\"channel\":\"" + ChannelName + "\",\"seq\":" + seq + "}"
            : "{\"type\":\"message\",\"channel\":\"" + ChannelName + "\",\"seq\":" + seq + ",\"data\":" + data + "}");
    }

    public void Dispose()
    {
        _shard?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        State.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
