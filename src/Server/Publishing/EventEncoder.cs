using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastWs.Server.Publishing;

/// <summary>
/// One <see cref="Utf8JsonWriter"/> per thread over a reused buffer, for <see cref="TypedPublisher"/> (the pattern of
/// ReplyEncoder). A buffer that grew past 64 KiB for a large payload is dropped on the next Begin, so a thread does
/// not keep it.
/// </summary>
internal sealed class EventEncoder
{
    private const int InitialCapacity = 512;
    private const int MaxKeptCapacity = 64 * 1024;

    [ThreadStatic]
    private static EventEncoder? t_instance;

    // As for replies: quotes, backslashes and control characters are escaped; ' < > & + stay as written.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private ArrayBufferWriter<byte> _buffer = new(InitialCapacity);
    private readonly Utf8JsonWriter _json;

    private EventEncoder()
    {
        _json = new Utf8JsonWriter(_buffer, WriterOptions);
    }

    /// <summary>Starts an event on this thread's writer; complete it before the thread awaits anything.</summary>
    public static Utf8JsonWriter Begin()
    {
        EventEncoder encoder = t_instance ??= new EventEncoder();
        if (encoder._buffer.Capacity > MaxKeptCapacity)
        {
            encoder._buffer = new ArrayBufferWriter<byte>(InitialCapacity);
        }
        else
        {
            encoder._buffer.ResetWrittenCount();
        }

        encoder._json.Reset(encoder._buffer);
        return encoder._json;
    }

    /// <summary>The event written since <see cref="Begin"/> (valid until the next Begin on this thread).</summary>
    public static ReadOnlySpan<byte> Complete()
    {
        EventEncoder encoder = t_instance!;
        encoder._json.Flush();
        return encoder._buffer.WrittenSpan;
    }
}
