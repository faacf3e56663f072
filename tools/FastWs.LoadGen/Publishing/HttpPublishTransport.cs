using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// Publishes through the HTTP API: one <c>POST</c> per tick with a JSON array of
/// <c>{"channel":"C","data":DATA}</c> items. Anything but a 2xx answer is an error.
/// </summary>
internal sealed class HttpPublishTransport : IPublishTransport
{
    private readonly HttpClient _client;
    private readonly Uri _url;
    private readonly byte[][] _prefixes;
    private readonly PayloadFactory _payload;
    private readonly ArrayBufferWriter<byte> _body = new(64 * 1024);
    private int _items;
    private long _requests;

    public HttpPublishTransport(Uri url, IReadOnlyList<string> channels, PayloadFactory payload)
    {
        _url = url;
        _client = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = 1,
            UseProxy = false,
            AllowAutoRedirect = false,
        })
        {
            Timeout = TimeSpan.FromSeconds(10),
        };
        _prefixes = channels.Select(c => Encoding.UTF8.GetBytes("{\"channel\":\"" + c + "\",\"data\":")).ToArray();
        _payload = payload;
    }

    public void Add(int channelIndex, long ticks)
    {
        _body.Write(_items == 0 ? "["u8 : ","u8);
        _body.Write(_prefixes[channelIndex]);
        _payload.WriteData(_body, ticks);
        _body.Write("}"u8);
        _items++;
    }

    public void Flush()
    {
        if (_items == 0)
        {
            return;
        }

        _body.Write("]"u8);
        try
        {
            using var content = new ByteArrayContent(_body.WrittenSpan.ToArray());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = content, Version = HttpVersion.Version11 };
            using HttpResponseMessage response = _client.Send(request);
            _requests++;
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
            }
        }
        finally
        {
            _body.ResetWrittenCount();
            _items = 0;
        }
    }

    public string Describe() => $"HTTP POST {_url} ({_requests} requests)";

    public void Dispose() => _client.Dispose();
}
