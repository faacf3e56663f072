using System.Text.Unicode;

namespace FastWs.Protocol.Frames;

/// <summary>
/// Validates UTF-8 that arrives in pieces (fragments, or a frame split across reads) without buffering it.
/// Complete code points are checked with the vectorised <see cref="Utf8Simd"/> (non-ASCII text at several GB/s);
/// only a sequence cut at a piece boundary (at most 3 bytes) is carried over, and each carried byte is
/// checked against the Unicode well-formed ranges at once, so an overlong form, a surrogate or a code point
/// above U+10FFFF fails on the byte that makes it impossible, not at the end of the message (RFC 6455 8.1).
/// </summary>
public struct Utf8StreamValidator
{
    private byte _lead;        // first byte of the sequence carried over from the previous piece
    private byte _expected;    // total length of that sequence
    private byte _have;        // how many of its bytes have arrived (0 = nothing carried over)

    /// <summary>True when no code point is cut open, i.e. the bytes so far form complete, valid UTF-8.</summary>
    public readonly bool IsComplete => _have == 0;

    public void Reset() => this = default;

    /// <summary>Adds the next piece. Returns false as soon as the bytes seen so far can no longer be valid UTF-8.</summary>
    public bool Append(ReadOnlySpan<byte> piece)
    {
        int i = 0;
        if (_have != 0)
        {
            while (_have < _expected && i < piece.Length)
            {
                if (!IsValidContinuation(_lead, _have, piece[i]))
                {
                    return false;
                }

                _have++;
                i++;
            }

            if (_have < _expected)
            {
                return true;
            }

            _have = 0;
        }

        ReadOnlySpan<byte> rest = piece[i..];
        int tailStart = FindIncompleteTail(rest);
        if (!Utf8Simd.IsValid(rest[..tailStart]))
        {
            return false;
        }

        if (tailStart == rest.Length)
        {
            return true;
        }

        _lead = rest[tailStart];
        _expected = (byte)SequenceLength(_lead);
        _have = 1;
        for (int k = tailStart + 1; k < rest.Length; k++)
        {
            if (!IsValidContinuation(_lead, _have, rest[k]))
            {
                return false;
            }

            _have++;
        }

        return true;
    }

    /// <summary>Validates a whole, self-contained buffer (a single-frame message or a close reason).</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8) => Utf8Simd.IsValid(utf8);

    /// <summary>
    /// Returns the index where a multi-byte sequence starts that the piece cuts short, or the piece length
    /// when the last sequence is complete. Only the last 3 bytes can start such a sequence.
    /// </summary>
    private static int FindIncompleteTail(ReadOnlySpan<byte> piece)
    {
        int stop = Math.Max(0, piece.Length - 3);
        for (int k = piece.Length - 1; k >= stop; k--)
        {
            byte b = piece[k];
            if ((b & 0xC0) != 0x80)
            {
                // A lead (or ASCII) byte. An invalid lead has length 0 and stays in the body, where IsValid rejects it.
                return SequenceLength(b) > piece.Length - k ? k : piece.Length;
            }
        }

        // Three or more trailing continuation bytes: the body check decides.
        return piece.Length;
    }

    /// <summary>Length of the sequence a lead byte announces; 0 for bytes that can never lead (80-C1, F5-FF).</summary>
    private static int SequenceLength(byte lead) => lead switch
    {
        < 0x80 => 1,
        < 0xC2 => 0,
        < 0xE0 => 2,
        < 0xF0 => 3,
        < 0xF5 => 4,
        _ => 0,
    };

    /// <summary>
    /// Unicode Table 3-7: the second byte's range depends on the lead (this is what excludes overlong forms,
    /// UTF-16 surrogates and code points above U+10FFFF); later bytes are plain continuation bytes.
    /// </summary>
    private static bool IsValidContinuation(byte lead, int position, byte b)
    {
        if (position != 1)
        {
            return (b & 0xC0) == 0x80;
        }

        return lead switch
        {
            0xE0 => b is >= 0xA0 and <= 0xBF,
            0xED => b is >= 0x80 and <= 0x9F,
            0xF0 => b is >= 0x90 and <= 0xBF,
            0xF4 => b is >= 0x80 and <= 0x8F,
            _ => b is >= 0x80 and <= 0xBF,
        };
    }
}
