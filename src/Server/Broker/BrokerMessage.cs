namespace FastWs.Server.Broker;

/// <summary>
/// A message as a broker hands it to a node: the number the broker gave it, in which epoch, and its data;
/// <paramref name="MoreWaiting"/> when more of the channel's messages have arrived behind it (the fan-out then waits
/// for them, so a burst goes to each subscriber in one write, as a publisher's read does on one node).
/// </summary>
internal readonly record struct BrokerMessage(string Epoch, long Seq, ReadOnlyMemory<byte> Data, long AtMs = 0, bool MoreWaiting = false);

/// <summary>
/// A channel's state as the broker has it: its epoch and last <c>seq</c>, the broker's clock (ms), and the messages
/// asked for, oldest first (each with when it was published, on that clock).
/// </summary>
internal sealed record BrokerStream(string Epoch, long Seq, long NowMs, IReadOnlyList<BrokerMessage> Messages);
