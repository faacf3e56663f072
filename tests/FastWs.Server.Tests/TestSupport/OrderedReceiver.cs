namespace FastWs.Server.Tests.TestSupport;

/// <summary>
/// Reads a client's messages in the background and checks each against the expected n-th message, so a
/// publisher can pace itself on how far its receivers have got and a test can check nothing was missed.
/// </summary>
internal sealed class OrderedReceiver
{
    private readonly Task _task;
    private int _received;

    public OrderedReceiver(TestClient client, Func<int, string> expected, int count)
    {
        _task = Task.Run(async () =>
        {
            for (int n = 1; n <= count; n++)
            {
                string message = await client.ReceiveAsync();
                Assert.Equal(expected(n), message);
                Volatile.Write(ref _received, n);
            }
        });
    }

    public int Received => Volatile.Read(ref _received);

    public Task Completion => _task;

    /// <summary>Waits until every receiver has at least <paramref name="count"/> messages; rethrows a receiver's failure.</summary>
    public static async Task WaitForAllAsync(IReadOnlyCollection<OrderedReceiver> receivers, int count)
    {
        await TestServer.WaitUntilAsync(() => receivers.All(r => r.Received >= count) || receivers.Any(r => r._task.IsFaulted), $"every receiver to reach message {count}");
        OrderedReceiver? failed = receivers.FirstOrDefault(r => r._task.IsFaulted);
        if (failed is not null)
        {
            await failed._task;
        }
    }
}
