namespace FastWs.LoadGen.Publishing;

/// <summary>How published messages reach the server. Used by the publisher thread only.</summary>
internal interface IPublishTransport : IDisposable
{
    /// <summary>Adds one message to the current batch.</summary>
    void Add(int channelIndex, long ticks);

    /// <summary>Sends the batch. Blocks while the server pushes back. Throws on failure.</summary>
    void Flush();

    /// <summary>Checks replies gathered so far (for HTTP: the status codes).</summary>
    string Describe();
}
