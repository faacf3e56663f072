using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace FastWs.Baseline.AspNetCore;

/// <summary>
/// Channels and their subscribers (a ConcurrentDictionary of channel name to channel), the per-client receive loop,
/// and the handling of the FastWs protocol's requests.
/// </summary>
internal sealed class PubSubHub
{
    /// <summary>Largest client message accepted (FastWs's MaxMessageSize).</summary>
    private const int MaxMessageBytes = 64 * 1024;

    private static ReadOnlySpan<byte> DataPart => ",\"data\":"u8;

    private readonly ConcurrentDictionary<string, ChannelState> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Client, byte> _clients = new();

    /// <summary>Runs one accepted WebSocket until it closes: a receive loop here, a send loop on the client.</summary>
    public async Task RunClientAsync(WebSocket socket, string? querySubscriptions)
    {
        using var client = new Client(socket);
        _clients.TryAdd(client, 0);
        Task sendLoop = client.SendLoopAsync();
        try
        {
            if (querySubscriptions is not null)
            {
                Subscribe(client, querySubscriptions.Split(',', StringSplitOptions.RemoveEmptyEntries), subscribe: true, id: default);
            }

            await ReceiveLoopAsync(client);
        }
        finally
        {
            _clients.TryRemove(client, out _);
            foreach (string name in client.Channels)
            {
                RemoveSubscriber(client, name);
            }

            client.Channels.Clear();
            client.Close(WebSocketCloseStatus.NormalClosure, string.Empty); // no-op when a close is already under way
            await sendLoop;
        }
    }

    /// <summary>Asks every client to close (server shutdown).</summary>
    public void CloseAll()
    {
        foreach (Client client in _clients.Keys)
        {
            client.Close(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");
        }
    }

    private async Task ReceiveLoopAsync(Client client)
    {
        WebSocket socket = client.Socket;
        byte[] buffer = new byte[4096];
        var message = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result = await socket.ReceiveAsync(buffer.AsMemory(), client.Aborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Answer the peer's close (after whatever is still queued).
                    client.Close(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, string.Empty);
                    return;
                }

                if (client.IsClosing)
                {
                    continue; // waiting for the peer's close reply
                }

                if (message.WrittenCount + result.Count > MaxMessageBytes)
                {
                    client.Close(WebSocketCloseStatus.MessageTooBig, "Message too big");
                    continue;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    client.Close(WebSocketCloseStatus.InvalidMessageType, "Binary messages are not supported");
                    continue;
                }

                if (result.EndOfMessage && message.WrittenCount == 0)
                {
                    Handle(client, buffer.AsMemory(0, result.Count));
                    continue;
                }

                message.Write(buffer.AsSpan(0, result.Count));
                if (result.EndOfMessage)
                {
                    Handle(client, message.WrittenMemory);
                    message.ResetWrittenCount();
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            client.Abort();
        }
    }

    private void Handle(Client client, ReadOnlyMemory<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            client.SendReply(Replies.Error("bad_request", "Message is not valid JSON", null, default));
            return;
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                client.SendReply(Replies.Error("bad_request", "Message must be a JSON object", null, default));
                return;
            }

            ReadOnlySpan<byte> id = default;
            if (root.TryGetProperty("id"u8, out JsonElement idElement))
            {
                if (idElement.ValueKind is not (JsonValueKind.Number or JsonValueKind.String))
                {
                    client.SendReply(Replies.Error("bad_request", "\"id\" must be a number or a string", null, default));
                    return;
                }

                id = JsonMarshal.GetRawUtf8Value(idElement);
            }

            if (!root.TryGetProperty("type"u8, out JsonElement type))
            {
                client.SendReply(Replies.Error("bad_request", "Missing \"type\"", null, id));
                return;
            }

            if (type.ValueKind != JsonValueKind.String)
            {
                client.SendReply(Replies.Error("bad_request", "\"type\" must be a string", null, id));
                return;
            }

            if (type.ValueEquals("publish"u8))
            {
                HandlePublish(client, root, id);
            }
            else if (type.ValueEquals("subscribe"u8) || type.ValueEquals("unsubscribe"u8))
            {
                bool subscribe = type.ValueEquals("subscribe"u8);
                if (!root.TryGetProperty("channels"u8, out JsonElement channels) || channels.ValueKind != JsonValueKind.Array)
                {
                    string what = subscribe ? "subscribe" : "unsubscribe";
                    client.SendReply(Replies.Error("bad_request", what + " needs \"channels\" (an array of strings)", null, id));
                    return;
                }

                var names = new List<string?>(channels.GetArrayLength());
                foreach (JsonElement channel in channels.EnumerateArray())
                {
                    names.Add(channel.ValueKind == JsonValueKind.String ? channel.GetString() : null);
                }

                Subscribe(client, names, subscribe, id);
            }
            else if (type.ValueEquals("ping"u8))
            {
                client.SendReply(Replies.Pong(id));
            }
            else
            {
                client.SendReply(Replies.Error("bad_request", "Unknown message type; expected subscribe, unsubscribe, publish or ping", null, id));
            }
        }
    }

    private void HandlePublish(Client client, JsonElement root, ReadOnlySpan<byte> id)
    {
        if (!root.TryGetProperty("channel"u8, out JsonElement channelElement) || channelElement.ValueKind != JsonValueKind.String)
        {
            client.SendReply(Replies.Error("bad_request", "publish needs a \"channel\" string", null, id));
            return;
        }

        string name = channelElement.GetString()!;
        if (!root.TryGetProperty("data"u8, out JsonElement data))
        {
            client.SendReply(Replies.Error("bad_request", "publish needs \"data\"", name, id));
            return;
        }

        if (!ChannelNames.IsValid(name))
        {
            client.SendReply(Replies.Error("invalid_channel", "Invalid channel name", name, id));
            return;
        }

        Publish(name, JsonMarshal.GetRawUtf8Value(data));
        if (!id.IsEmpty)
        {
            client.SendReply(Replies.Published(name, id));
        }
    }

    /// <summary>
    /// Encodes the message once and queues the same bytes to every subscriber with at most 64 KB queued. The
    /// channel's lock keeps seq numbers and queue order in step when several clients publish to one channel.
    /// </summary>
    private void Publish(string name, ReadOnlySpan<byte> data)
    {
        if (!_channels.TryGetValue(name, out ChannelState? channel))
        {
            return; // nobody subscribed
        }

        lock (channel.Sync)
        {
            if (channel.Removed)
            {
                return;
            }

            long seq = ++channel.Sequence;
            byte[] prefix = channel.MessagePrefix;
            byte[] frame = new byte[prefix.Length + 20 + DataPart.Length + data.Length + 1];
            prefix.CopyTo(frame, 0);
            int at = prefix.Length;
            Utf8Formatter.TryFormat(seq, frame.AsSpan(at), out int digits);
            at += digits;
            DataPart.CopyTo(frame.AsSpan(at));
            at += DataPart.Length;
            data.CopyTo(frame.AsSpan(at));
            at += data.Length;
            frame[at++] = (byte)'}';

            ReadOnlyMemory<byte> message = frame.AsMemory(0, at);
            foreach (Client subscriber in channel.Subscribers)
            {
                subscriber.TrySendData(message);
            }
        }
    }

    private void Subscribe(Client client, IEnumerable<string?> names, bool subscribe, ReadOnlySpan<byte> id)
    {
        var done = new List<string>();
        foreach (string? name in names)
        {
            if (name is null || !ChannelNames.IsValid(name))
            {
                client.SendReply(Replies.Error("invalid_channel", "Invalid channel name", name, id));
                continue;
            }

            if (subscribe)
            {
                if (client.Channels.Add(name))
                {
                    AddSubscriber(client, name);
                }
            }
            else if (client.Channels.Remove(name))
            {
                RemoveSubscriber(client, name);
            }

            done.Add(name);
        }

        client.SendReply(Replies.Ack(subscribe ? "subscribed" : "unsubscribed", done, id));
    }

    private void AddSubscriber(Client client, string name)
    {
        while (true)
        {
            ChannelState channel = _channels.GetOrAdd(name, static n => new ChannelState(n));
            lock (channel.Sync)
            {
                if (!channel.Removed)
                {
                    channel.Subscribers.Add(client);
                    return;
                }
            }

            // The last subscriber left and removed this channel while we were looking it up; add a fresh one.
        }
    }

    private void RemoveSubscriber(Client client, string name)
    {
        if (!_channels.TryGetValue(name, out ChannelState? channel))
        {
            return;
        }

        lock (channel.Sync)
        {
            if (channel.Subscribers.Remove(client) && channel.Subscribers.Count == 0)
            {
                channel.Removed = true;
                _channels.TryRemove(new KeyValuePair<string, ChannelState>(name, channel));
            }
        }
    }

    /// <summary>A channel exists while it has subscribers; its seq counts up from 1.</summary>
    private sealed class ChannelState(string name)
    {
        public Lock Sync { get; } = new();

        public HashSet<Client> Subscribers { get; } = [];

        public long Sequence { get; set; }

        public bool Removed { get; set; }

        /// <summary><c>{"type":"message","channel":"NAME","seq":</c>; names need no JSON escaping.</summary>
        public byte[] MessagePrefix { get; } = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"channel\":\"" + name + "\",\"seq\":");
    }
}
