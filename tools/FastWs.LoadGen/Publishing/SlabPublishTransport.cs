using System.Buffers;
using System.Text;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// The conflation scenario's publisher: <c>{"type":"publish","channel":"C","data":{"t":..,"v":N,"p":".."}}</c> frames
/// where N is a counter per channel that rises by one with every update, so a subscriber can tell a newer value from an
/// older one. Each channel always goes through the same connection (channel index mod connections): the server sees a
/// channel's updates in the order they were made, so any value going backwards is the server's doing.
/// </summary>
internal sealed class SlabPublishTransport : IPublishTransport
{
    private readonly WsConnection[] _connections;
    private readonly ArrayBufferWriter<byte>[] _batches;
    private readonly byte[][] _prefixes;
    private readonly PayloadFactory _payload;
    private readonly ArrayBufferWriter<byte> _message = new(1024);
    private readonly long[] _next;
    private readonly long[] _pending;

    public SlabPublishTransport(IReadOnlyList<WsConnection> connections, IReadOnlyList<string> channels, PayloadFactory payload)
    {
        _connections = connections.ToArray();
        _batches = _connections.Select(_ => new ArrayBufferWriter<byte>(64 * 1024)).ToArray();
        _prefixes = channels.Select(c => Encoding.UTF8.GetBytes("{\"type\":\"publish\",\"channel\":\"" + c + "\",\"data\":")).ToArray();
        _payload = payload;
        _next = new long[channels.Count];
        _pending = new long[channels.Count];
        LastSent = new long[channels.Count];
    }

    /// <summary>Per channel, the last value in a batch that was sent (0: none yet). Read after the publisher has stopped.</summary>
    public long[] LastSent { get; }

    public void Add(int channelIndex, long ticks)
    {
        long value = ++_next[channelIndex];
        _pending[channelIndex] = value;
        _message.ResetWrittenCount();
        _message.Write(_prefixes[channelIndex]);
        _payload.WriteData(_message, ticks, value);
        _message.Write("}"u8);
        int connection = channelIndex % _connections.Length;
        _connections[connection].AppendMaskedText(_batches[connection], _message.WrittenSpan);
    }

    public void Flush()
    {
        try
        {
            for (int i = 0; i < _connections.Length; i++)
            {
                ArrayBufferWriter<byte> batch = _batches[i];
                if (batch.WrittenCount > 0)
                {
                    try
                    {
                        _connections[i].SendBatchBlocking(batch.WrittenSpan);
                    }
                    finally
                    {
                        batch.ResetWrittenCount();
                    }
                }
            }

            for (int c = 0; c < _pending.Length; c++)
            {
                if (_pending[c] > LastSent[c])
                {
                    LastSent[c] = _pending[c];
                }
            }
        }
        finally
        {
            // A failed batch's values are skipped, not reused: the counter only rises.
            Array.Clear(_pending);
        }
    }

    public string Describe() => $"{_connections.Length} WebSocket publisher connection(s), one per channel";

    public void Dispose()
    {
    }
}
