using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace FastWs.LoadGen.Publishing;

/// <summary>
/// Builds the published data: <c>{"t":TICKS,"p":"xxxx"}</c>, padded so the data is <c>payload</c> bytes long.
/// TICKS is the publisher's Stopwatch timestamp at send time; receivers find <c>"t":</c> and subtract.
/// </summary>
internal sealed class PayloadFactory
{
    private readonly byte[] _padding;

    /// <summary>With <c>--payload-kind price</c>: the price object's members after the timestamp, taken in turn; null for padded data.</summary>
    private readonly byte[][]? _priceTails;
    private int _nextTail;

    /// <param name="price">Publish ~1 KB price objects (<see cref="PricePayload"/>) instead of padded data; <paramref name="payloadBytes"/> is then ignored.</param>
    public PayloadFactory(int payloadBytes, bool price = false)
    {
        if (price)
        {
            _padding = [];
            _priceTails = PricePayload.Tails();
            int tickDigits = Metrics.Clock.Now.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
            DataBytes = "{\"t\":".Length + tickDigits + 1 + (int)_priceTails.Average(t => t.Length);
            MaxDataBytes = "{\"t\":".Length + 24 + _priceTails.Max(t => t.Length);
            return;
        }

        // {"t": + up to 19 digits + ,"p":" + padding + "}
        int digits = Metrics.Clock.Now.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        int fixedPart = "{\"t\":".Length + digits + ",\"p\":\"".Length + "\"}".Length;
        int pad = Math.Max(0, payloadBytes - fixedPart);
        _padding = Encoding.ASCII.GetBytes(new string('x', pad));
        DataBytes = fixedPart + pad;
        MaxDataBytes = DataBytes + 4;
    }

    /// <summary>Actual size of the data (at least the minimum of about 30 bytes).</summary>
    public int DataBytes { get; }

    public int MaxDataBytes { get; }

    /// <summary>Writes the data object with timestamp <paramref name="ticks"/>.</summary>
    public void WriteData(IBufferWriter<byte> output, long ticks)
    {
        Span<byte> span = output.GetSpan(MaxDataBytes + 8);
        int at = Copy(span, 0, "{\"t\":"u8);
        Utf8Formatter.TryFormat(ticks, span[at..], out int written);
        at += written;
        if (_priceTails is not null)
        {
            // Only the publisher thread writes data, so the turn needs no synchronisation.
            at = Copy(span, at, ","u8);
            at = Copy(span, at, _priceTails[_nextTail]);
            _nextTail = (_nextTail + 1) % _priceTails.Length;
            output.Advance(at);
            return;
        }

        at = Copy(span, at, ",\"p\":\""u8);
        at = Copy(span, at, _padding);
        at = Copy(span, at, "\"}"u8);
        output.Advance(at);
    }

    /// <summary>
    /// Writes <c>{"t":TICKS,"v":VALUE,"p":"xx.."}</c>, the same size as <see cref="WriteData(IBufferWriter{byte}, long)"/>
    /// (the padding gives way to the value, down to none): the conflation scenario's rising per-slab counter.
    /// </summary>
    public void WriteData(IBufferWriter<byte> output, long ticks, long value)
    {
        Span<byte> span = output.GetSpan(MaxDataBytes + 32);
        int at = Copy(span, 0, "{\"t\":"u8);
        Utf8Formatter.TryFormat(ticks, span[at..], out int written);
        at += written;
        at = Copy(span, at, ",\"v\":"u8);
        Utf8Formatter.TryFormat(value, span[at..], out written);
        at += written;
        at = Copy(span, at, ",\"p\":\""u8);
        at = Copy(span, at, _padding.AsSpan(0, Math.Max(0, _padding.Length - 5 - written)));
        at = Copy(span, at, "\"}"u8);
        output.Advance(at);
    }

    private static int Copy(Span<byte> span, int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        return at + bytes.Length;
    }
}
