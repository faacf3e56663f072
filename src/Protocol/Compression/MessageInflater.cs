using System.Buffers;
using System.IO.Compression;

namespace FastWs.Protocol.Compression;

/// <summary>Outcome of <see cref="MessageInflater.Inflate"/>.</summary>
public enum InflateResult
{
    /// <summary>The whole message was inflated.</summary>
    Ok,

    /// <summary>The message inflates to more than the limit (a compression bomb, or just too big): close 1009.</summary>
    TooBig,

    /// <summary>The payload is not valid DEFLATE data: close 1007 (RFC 7692 section 8, RFC 6455 section 8.1).</summary>
    InvalidData,
}

/// <summary>
/// Inflates a client's compressed messages (RFC 7692 section 7.2.2) for one connection, into a pooled buffer that
/// never grows past the message size limit: a bomb is stopped after at most that many bytes of output.
/// Not thread-safe; one per connection, created by the reader on the connection's first compressed message.
/// </summary>
/// <remarks>
/// <para>
/// zlib comes from the runtime: a <see cref="DeflateStream"/> (raw DEFLATE, 15-bit window, so any client window
/// of 8-15 decodes) over <see cref="InflateInput"/>. Its cost, measured (perf/deflate_memory.py and by hand): about
/// 41 KB of native zlib state and window (zlib-ng allocates the whole 32 KB window up front; only the pages a
/// message reaches become resident) plus an 8 KB input buffer it rents from the shared pool, held from
/// construction to disposal, and a few hundred bytes of objects.
/// </para>
/// <para>
/// With context takeover the client's messages form one DEFLATE stream, so the stream is kept for the life of the
/// connection. With <c>client_no_context_takeover</c> (the server's default answer) it is disposed after every
/// message: a DeflateStream cannot be reset, and keeping one would hold those 50 KB for a connection that may send
/// one subscribe in its lifetime. That costs about 300 bytes of managed allocation and a few microseconds per
/// compressed message, for messages that are rare and rate limited. Inflaters are never shared between
/// connections: a client whose data stops in the middle of a DEFLATE block leaves the inflater in a state
/// that would corrupt the next message it decoded, which must only ever be that client's own.
/// </para>
/// <para>
/// A message whose data ends in a final block (BFINAL, section 7.2.3.3) ends the DEFLATE stream; the next message
/// then gets a new stream, and with context takeover the earlier window is lost (a client that refers back to it
/// gets 1007). Browsers and the common libraries end messages with a sync flush instead.
/// </para>
/// <para>
/// Without context takeover the stream is closed after each message by an empty final block appended to the
/// four octets (<see cref="InflateInput"/>), so a message cut off inside a block is caught (1007) rather than
/// handed on as whatever part of it inflated. With context takeover the stream must stay open and that check is
/// not possible: a client that truncates its own data gets a truncated message (and, likely, garbage or 1007 on
/// its next one); no other connection is affected.
/// </para>
/// <para>
/// With context takeover the loop never asks the DeflateStream for more once zlib has consumed the whole message
/// and returned less than it was offered, so the runtime's opt-in strict truncation check (AppContext switch
/// System.IO.Compression.UseStrictValidation) is not reached for ordinary messages; with that switch on, an empty
/// message or one that fills the limit exactly would be reported as invalid data. Without context takeover every
/// valid message ends its stream, which that check accepts.
/// </para>
/// </remarks>
public sealed class MessageInflater : IDisposable
{
    private const int MinimumOutput = 1024;

    private readonly bool _contextTakeover;
    private readonly InflateInput _input = new();
    private DeflateStream? _stream;

    public MessageInflater(bool contextTakeover)
    {
        _contextTakeover = contextTakeover;
    }

    /// <summary>True while a DEFLATE stream (zlib state) is held: between messages only with context takeover.</summary>
    public bool HoldsState => _stream is not null;

    /// <summary>
    /// Inflates one whole message. On <see cref="InflateResult.Ok"/>, the first <paramref name="length"/> bytes of
    /// <paramref name="output"/> are the message; <paramref name="output"/> is rented from
    /// <see cref="ArrayPool{T}.Shared"/> (or the array passed in, grown) and belongs to the caller, who returns it,
    /// whatever the result. <paramref name="compressed"/> is not referenced after the call.
    /// </summary>
    /// <param name="compressed">The message's payload, all frames joined, without the 0x00 0x00 0xff 0xff tail.</param>
    /// <param name="maxSize">Largest inflated message accepted.</param>
    public InflateResult Inflate(ReadOnlyMemory<byte> compressed, int maxSize, ref byte[]? output, out int length)
    {
        length = 0;
        if (compressed.IsEmpty)
        {
            // Section 7.2.3.6 sends an empty message as one 0x00 octet; an empty payload is taken as the same thing,
            // without feeding the inflater a lone tail that would leave it inside a stored block header.
            return InflateResult.Ok;
        }

        if (output is null)
        {
            // A guess at the inflated size (JSON often shrinks 3-10x), so most messages rent once.
            long guess = Math.Max((long)compressed.Length * 4, MinimumOutput);
            output = ArrayPool<byte>.Shared.Rent((int)Math.Min(guess, Math.Max(maxSize, 1)));
        }

        bool freshStream = _stream is null;
        bool finish = !_contextTakeover;
        _input.SetMessage(compressed, finish);
        try
        {
            InflateResult result = InflateCore(maxSize, ref output, out length);
            if (result == InflateResult.Ok && !_input.PayloadConsumed)
            {
                // The DEFLATE stream had ended (a final block) before this message's data was used up.
                if (freshStream)
                {
                    result = InflateResult.InvalidData; // data after the final block of this very message
                }
                else
                {
                    // A previous message ended the stream: start a new one for this message.
                    DisposeStream();
                    _input.SetMessage(compressed, finish);
                    result = InflateCore(maxSize, ref output, out length);
                    if (result == InflateResult.Ok && !_input.PayloadConsumed)
                    {
                        result = InflateResult.InvalidData;
                    }
                }
            }

            if (result == InflateResult.Ok && finish && !StreamEnded())
            {
                // The empty final block after the message did not end the stream: the message was cut off inside a
                // block (or its last block was never closed), so the appended octets were taken as part of it.
                length = 0;
                result = InflateResult.InvalidData;
            }

            if (result != InflateResult.Ok || !_contextTakeover)
            {
                // Mid-stream after an error or a stopped bomb, or no context to keep: either way, let zlib's memory go.
                DisposeStream();
            }

            return result;
        }
        finally
        {
            _input.Clear();
        }
    }

    /// <summary>
    /// Whether the DEFLATE stream has ended: asked once more for output, an ended stream answers at once, while one
    /// that still wants input asks <see cref="InflateInput"/> for more after its end.
    /// </summary>
    private bool StreamEnded()
    {
        if (_input.ReadsAfterEnd == 0)
        {
            Span<byte> probe = stackalloc byte[1];
            if (_stream!.Read(probe) != 0)
            {
                return false;
            }
        }

        return _input.ReadsAfterEnd == 0;
    }

    /// <summary>Frees the zlib state, if any.</summary>
    public void Dispose() => DisposeStream();

    private InflateResult InflateCore(int maxSize, ref byte[]? output, out int length)
    {
        length = 0;
        _stream ??= new DeflateStream(_input, CompressionMode.Decompress, leaveOpen: true);
        try
        {
            while (true)
            {
                int capacity = output is null ? 0 : Math.Min(output.Length, maxSize);
                if (length == capacity)
                {
                    if (capacity >= maxSize)
                    {
                        // Full at the limit: one more byte means the message is too big. Never more than this.
                        Span<byte> probe = stackalloc byte[1];
                        return _stream.Read(probe) == 0 ? InflateResult.Ok : InflateResult.TooBig;
                    }

                    Grow(ref output, length, maxSize);
                    capacity = Math.Min(output!.Length, maxSize);
                }

                int room = capacity - length;
                int read = _stream.Read(output.AsSpan(length, room));
                length += read;
                if (read == 0 || (read < room && _input.IsDrained))
                {
                    // zlib stops short of filling the output only when its input has run out; with all of the
                    // message (and its tail) given to it, the message is complete.
                    return InflateResult.Ok;
                }
            }
        }
        catch (InvalidDataException)
        {
            length = 0;
            return InflateResult.InvalidData;
        }
    }

    private static void Grow(ref byte[]? output, int used, int maxSize)
    {
        int size = output is null ? MinimumOutput : (int)Math.Min((long)output.Length * 2, maxSize);
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(size, MinimumOutput), Math.Max(maxSize, 1)));
        if (output is not null)
        {
            output.AsSpan(0, used).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(output);
        }

        output = bigger;
    }

    private void DisposeStream()
    {
        _stream?.Dispose();
        _stream = null;
    }
}
