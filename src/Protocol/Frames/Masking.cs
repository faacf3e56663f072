using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FastWs.Protocol.Frames;

/// <summary>
/// XOR masking of frame payloads (RFC 6455 5.3), done in place with the widest vectors the CPU offers.
/// The mask key is handled as a little-endian <see cref="uint"/> read straight from the 4 wire bytes, so
/// XOR-ing it over little-endian words of the payload applies key byte i to payload byte i (every platform
/// .NET 10 runs this server on, x64 and arm64, is little-endian).
/// </summary>
public static class Masking
{
    /// <summary>Reads the 4 mask-key bytes as they appear on the wire.</summary>
    public static uint ReadMaskKey(ReadOnlySpan<byte> fourBytes) => BinaryPrimitives.ReadUInt32LittleEndian(fourBytes);

    /// <summary>Writes a mask key back in wire order (the inverse of <see cref="ReadMaskKey"/>).</summary>
    public static void WriteMaskKey(Span<byte> fourBytes, uint maskKey) => BinaryPrimitives.WriteUInt32LittleEndian(fourBytes, maskKey);

    /// <summary>
    /// Applies (or removes: XOR is its own inverse) the mask to <paramref name="data"/>, which starts
    /// <paramref name="payloadOffset"/> bytes into the frame payload. The offset matters when a payload
    /// arrives in pieces: piece N must continue the key rotation where piece N-1 stopped.
    /// </summary>
    public static void Apply(Span<byte> data, uint maskKey, long payloadOffset)
    {
        uint mask = BitOperations.RotateRight(maskKey, (int)(payloadOffset & 3) * 8);
        ref byte start = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint i = 0;

        // Every block size below is a multiple of 4, so the key phase stays aligned from one loop to the next.
        if (Vector256.IsHardwareAccelerated && length >= (nuint)Vector256<byte>.Count)
        {
            Vector256<byte> maskVector = Vector256.Create(mask).AsByte();
            nuint last = length - (nuint)Vector256<byte>.Count;
            for (; i <= last; i += (nuint)Vector256<byte>.Count)
            {
                (Vector256.LoadUnsafe(ref start, i) ^ maskVector).StoreUnsafe(ref start, i);
            }
        }

        if (Vector128.IsHardwareAccelerated && length - i >= (nuint)Vector128<byte>.Count)
        {
            Vector128<byte> maskVector = Vector128.Create(mask).AsByte();
            nuint last = length - (nuint)Vector128<byte>.Count;
            for (; i <= last; i += (nuint)Vector128<byte>.Count)
            {
                (Vector128.LoadUnsafe(ref start, i) ^ maskVector).StoreUnsafe(ref start, i);
            }
        }

        if (length - i >= 8)
        {
            ulong mask64 = ((ulong)mask << 32) | mask;
            for (; i + 8 <= length; i += 8)
            {
                ref byte at = ref Unsafe.Add(ref start, i);
                Unsafe.WriteUnaligned(ref at, Unsafe.ReadUnaligned<ulong>(ref at) ^ mask64);
            }
        }

        for (int shift = 0; i < length; i++, shift += 8)
        {
            Unsafe.Add(ref start, i) ^= (byte)(mask >> shift);
        }
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> and masks the copy (used by client-side writers).</summary>
    public static void CopyAndApply(ReadOnlySpan<byte> source, Span<byte> destination, uint maskKey, long payloadOffset)
    {
        source.CopyTo(destination);
        Apply(destination[..source.Length], maskKey, payloadOffset);
    }
}
