using System.Threading.Channels;

namespace FastWs.Server.Http.Dashboard;

/// <summary>
/// One open dashboard event stream: the history it starts with, then each second's event. The queue between the
/// feed and the stream is small and bounded: a viewer that falls <see cref="QueueCapacity"/> seconds behind (a
/// stalled browser, a slow link) is dropped instead of being buffered for; the page reconnects and gets the whole
/// history again, so its charts have no hole either way.
/// </summary>
internal sealed class DashboardViewer : IDisposable
{
    /// <summary>Seconds of events a viewer may be behind before it is dropped.</summary>
    public const int QueueCapacity = 10;

    private readonly DashboardFeed _feed;
    private readonly Channel<byte[]> _queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = true,
        SingleWriter = true, // only the supervisor's tick offers events
        FullMode = BoundedChannelFullMode.Wait, // never waited for: TryWrite fails when full, and the viewer is dropped
    });

    // Not disposed: it has no timer, and its cancellation may still be running its callbacks (CancelAsync) when the
    // stream ends; disposing it then would race with them.
    private readonly CancellationTokenSource _dropped = new();

    internal DashboardViewer(DashboardFeed feed, byte[] backlog)
    {
        _feed = feed;
        Backlog = backlog;
    }

    /// <summary>The opening events (the history and the current status), written once when the stream starts.</summary>
    public byte[] Backlog { get; }

    /// <summary>Each second's event, as the feed offered it.</summary>
    public ChannelReader<byte[]> Events => _queue.Reader;

    /// <summary>Cancelled when the viewer fell too far behind: the stream stops writing, even mid-write, and ends.</summary>
    public CancellationToken Dropped => _dropped.Token;

    public bool WasDropped => _dropped.IsCancellationRequested;

    /// <summary>Queues one event (the same bytes for every viewer); drops the viewer when its queue is full.</summary>
    internal void Offer(byte[] tick)
    {
        if (_queue.Writer.TryWrite(tick))
        {
            return;
        }

        _queue.Writer.TryComplete();
        // Asynchronously: the continuation of a write waiting on this token must not run on the supervisor's tick.
        _ = _dropped.CancelAsync();
        _feed.Leave(this);
    }

    public void Dispose()
    {
        _feed.Leave(this);
        _queue.Writer.TryComplete();
    }
}
