using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Unicode;

namespace FastWs.Protocol.Frames;

/// <summary>
/// Whole-buffer UTF-8 validation with the lookup algorithm of Keiser and Lemire ("Validating UTF-8 In Less Than
/// One Instruction Per Byte", 2021; the method of simdjson and simdutf): three 16-entry nibble lookups per block
/// classify every two-byte window, which is what makes non-ASCII text validate at several GB/s where the BCL's
/// validator drops to about 2 GB/s. ASCII blocks take a shortcut. Falls back to <see cref="Utf8.IsValid(ReadOnlySpan{byte})"/>
/// where SSSE3 is missing.
/// </summary>
internal static class Utf8Simd
{
    // Error classes: a two-byte window (previous byte, current byte) is invalid when all three lookups share a bit.
    private const byte TooShort = 1 << 0;
    private const byte TooLong = 1 << 1;
    private const byte Overlong3 = 1 << 2;
    private const byte TooLarge = 1 << 3;
    private const byte Surrogate = 1 << 4;
    private const byte Overlong2 = 1 << 5;
    private const byte TooLarge1000 = 1 << 6;
    private const byte Overlong4 = 1 << 6;
    private const byte TwoConts = 1 << 7;
    private const byte Carry = TooShort | TooLong | TwoConts;

    private static readonly Vector128<byte> Byte1High = Vector128.Create(
        TooLong, TooLong, TooLong, TooLong, TooLong, TooLong, TooLong, TooLong,
        TwoConts, TwoConts, TwoConts, TwoConts,
        (byte)(TooShort | Overlong2),
        TooShort,
        (byte)(TooShort | Overlong3 | Surrogate),
        (byte)(TooShort | TooLarge | TooLarge1000 | Overlong4));

    private static readonly Vector128<byte> Byte1Low = Vector128.Create(
        (byte)(Carry | Overlong3 | Overlong2 | Overlong4),
        (byte)(Carry | Overlong2),
        Carry,
        Carry,
        (byte)(Carry | TooLarge),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000 | Surrogate),
        (byte)(Carry | TooLarge | TooLarge1000),
        (byte)(Carry | TooLarge | TooLarge1000));

    private static readonly Vector128<byte> Byte2High = Vector128.Create(
        TooShort, TooShort, TooShort, TooShort, TooShort, TooShort, TooShort, TooShort,
        (byte)(TooLong | Overlong2 | TwoConts | Overlong3 | TooLarge1000 | Overlong4),
        (byte)(TooLong | Overlong2 | TwoConts | Overlong3 | TooLarge),
        (byte)(TooLong | Overlong2 | TwoConts | Surrogate | TooLarge),
        (byte)(TooLong | Overlong2 | TwoConts | Surrogate | TooLarge),
        TooShort, TooShort, TooShort, TooShort);

    /// <summary>A byte above these in the last three positions starts a sequence the block does not finish.</summary>
    private static readonly Vector128<byte> IncompleteMax = Vector128.Create(
        (byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0xF0 - 1, 0xE0 - 1, 0xC0 - 1);

    /// <summary>True when <paramref name="utf8"/> is complete, well-formed UTF-8.</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8)
    {
        if (!Ssse3.IsSupported || utf8.Length < 64)
        {
            return Utf8.IsValid(utf8);
        }

        // Trading JSON is mostly ASCII: find the first non-ASCII byte with the BCL's widest-vector search first.
        int firstNonAscii = utf8.IndexOfAnyExceptInRange((byte)0, (byte)0x7F);
        if (firstNonAscii < 0)
        {
            return true;
        }

        ref byte start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(utf8);
        nuint length = (nuint)utf8.Length;
        nuint i = (nuint)firstNonAscii;
        Vector128<byte> previous = Vector128<byte>.Zero;
        Vector128<byte> previousIncomplete = Vector128<byte>.Zero;
        Vector128<byte> error = Vector128<byte>.Zero;

        while (i + 16 <= length)
        {
            Vector128<byte> input = Vector128.LoadUnsafe(ref start, i);
            if (input.ExtractMostSignificantBits() == 0)
            {
                // All ASCII: only a sequence left open by the previous block can be wrong here. Then skip the
                // rest of the ASCII run with the BCL's widest-vector search, and resume at its first non-ASCII
                // byte with an all-ASCII "previous" block (which is what precedes it).
                error |= previousIncomplete;
                previousIncomplete = Vector128<byte>.Zero;
                previous = Vector128<byte>.Zero;
                int run = utf8[(int)(i + 16)..].IndexOfAnyExceptInRange((byte)0, (byte)0x7F);
                i = run < 0 ? length : i + 16 + (nuint)run;
                continue;
            }

            error |= CheckBlock(input, previous);
            previousIncomplete = Sse2.SubtractSaturate(input, IncompleteMax);
            previous = input;
            i += 16;
        }

        if (error != Vector128<byte>.Zero)
        {
            return false;
        }

        // The tail (fewer than 16 bytes) plus whatever sequence the last block left open: back up to the start of
        // that sequence (at most 3 bytes) and let the scalar validator finish.
        int tailStart = (int)i;
        if (previousIncomplete != Vector128<byte>.Zero || tailStart < utf8.Length)
        {
            int back = 0;
            while (back < 3 && tailStart - back > 0 && (utf8[tailStart - back - 1] & 0xC0) == 0x80)
            {
                back++;
            }

            if (tailStart - back > 0 && utf8[tailStart - back - 1] >= 0xC0)
            {
                back++;
            }

            return Utf8.IsValid(utf8[(tailStart - back)..]);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> CheckBlock(Vector128<byte> input, Vector128<byte> previous)
    {
        Vector128<byte> prev1 = Ssse3.AlignRight(input, previous, 15);
        Vector128<byte> lowNibbleMask = Vector128.Create((byte)0x0F);
        Vector128<byte> byte1High = Ssse3.Shuffle(Byte1High, Vector128.ShiftRightLogical(prev1.AsUInt16(), 4).AsByte() & lowNibbleMask);
        Vector128<byte> byte1Low = Ssse3.Shuffle(Byte1Low, prev1 & lowNibbleMask);
        Vector128<byte> byte2High = Ssse3.Shuffle(Byte2High, Vector128.ShiftRightLogical(input.AsUInt16(), 4).AsByte() & lowNibbleMask);
        Vector128<byte> special = byte1High & byte1Low & byte2High;

        // A byte two after a 3- or 4-byte lead, or three after a 4-byte lead, must be a continuation byte.
        Vector128<byte> prev2 = Ssse3.AlignRight(input, previous, 14);
        Vector128<byte> prev3 = Ssse3.AlignRight(input, previous, 13);
        Vector128<byte> isThird = Sse2.SubtractSaturate(prev2, Vector128.Create((byte)(0xE0 - 0x80)));
        Vector128<byte> isFourth = Sse2.SubtractSaturate(prev3, Vector128.Create((byte)(0xF0 - 0x80)));
        Vector128<byte> must23 = (isThird | isFourth) & Vector128.Create((byte)0x80);
        return must23 ^ special;
    }
}
