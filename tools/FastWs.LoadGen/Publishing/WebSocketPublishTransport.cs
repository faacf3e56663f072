using System.Buffers;
using System.Text;
using FastWs.LoadGen.Net;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// Publishes through one or more WebSocket connections: <c>{"type":"publish","channel":"C","data":DATA}</c>
/// text frames, masked, appended to one batch per connection per tick and sent with one write each.
/// </summary>
internal sealed class WebSocketPublishTransport : IPublishTransport
{
    private readonly WsConnection[] _connections;
    private readonly ArrayBufferWriter<byte>[] _batches;
    private readonly byte[][] _prefixes;
    private readonly byte[] _suffix;
    private readonly PayloadFactory _payload;
    private readonly ArrayBufferWriter<byte> _message = new(1024);
    private int _next;

    public WebSocketPublishTransport(IReadOnlyList<WsConnection> connections, IReadOnlyList<string> channels, PayloadFactory payload, Cli.WireProtocol protocol = Cli.WireProtocol.FastWs)
    {
        _connections = connections.ToArray();
        _batches = _connections.Select(_ => new ArrayBufferWriter<byte>(64 * 1024)).ToArray();
        // SignalR: the invocation Publish(channel, data), one record per message (no invocation id: no completion).
        _prefixes = protocol == Cli.WireProtocol.SignalR
            ? channels.Select(SignalRProtocol.PublishPrefix).ToArray()
            : channels.Select(c => Encoding.UTF8.GetBytes("{\"type\":\"publish\",\"channel\":\"" + c + "\",\"data\":")).ToArray();
        _suffix = protocol == Cli.WireProtocol.SignalR ? SignalRProtocol.PublishSuffix.ToArray() : "}"u8.ToArray();
        _payload = payload;
    }

    public void Add(int channelIndex, long ticks)
    {
        _message.ResetWrittenCount();
        _message.Write(_prefixes[channelIndex]);
        _payload.WriteData(_message, ticks);
        _message.Write(_suffix);
        int connection = _next;
        _next = connection + 1 == _connections.Length ? 0 : connection + 1;
        _connections[connection].AppendMaskedText(_batches[connection], _message.WrittenSpan);
    }

    public void Flush()
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
    }

    public string Describe() => $"{_connections.Length} WebSocket publisher connection(s)";

    public void Dispose()
    {
    }
}
