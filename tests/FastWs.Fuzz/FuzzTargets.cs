using System.Buffers;
using System.Text.Unicode;
using FastWs.Protocol.Frames;
using FastWs.Protocol.Handshake;
using FastWs.Server.Messages;

namespace FastWs.Fuzz;

/// <summary>A parser broke a rule it documents (not a crash of the parser itself, but as much a bug).</summary>
public sealed class FuzzInvariantException(string message) : Exception(message);

/// <summary>
/// The fuzz targets. Each takes any bytes and must return normally: the parsers document no exception for bad input
/// (they answer with a status, a rejection or false), so any exception escaping one is a bug, and so is a
/// <see cref="FuzzInvariantException"/> (a parser that answers differently for the same bytes split differently, or a
/// status outside its enum). The first input byte, where a target needs one, chooses how the rest is split.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The names the command line and the corpus folders use.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["upgrade"] = Upgrade,
        ["frames"] = Frames,
        ["utf8"] = Utf8Stream,
        ["client-request"] = ClientRequest,
    };

    /// <summary>The server's default head limit. Made per input, not in a static initializer: instrumented code must run only inside SharpFuzz's run loop.</summary>
    private const int MaxHeaderBytes = 8192;

    /// <summary>
    /// <see cref="UpgradeRequestParser.TryParse"/> over the whole input in one segment and in segments cut at the
    /// split the first byte chooses: the same status, failure and consumed length either way.
    /// </summary>
    public static void Upgrade(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length == 0)
        {
            return;
        }

        int chunk = 1 + (input[0] % 17);
        ReadOnlyMemory<byte> data = input.AsMemory(1);
        var options = new UpgradeParserOptions { MaxHeaderBytes = MaxHeaderBytes };
        (UpgradeParseStatus whole, UpgradeFailure wholeFailure, long wholeConsumed) = ParseUpgrade(new ReadOnlySequence<byte>(data), options);
        (UpgradeParseStatus split, UpgradeFailure splitFailure, long splitConsumed) = ParseUpgrade(Segments(data, chunk), options);
        if (whole != split || wholeFailure != splitFailure || wholeConsumed != splitConsumed)
        {
            throw new FuzzInvariantException($"upgrade: {whole}/{wholeFailure}/{wholeConsumed} in one segment, {split}/{splitFailure}/{splitConsumed} in segments of {chunk}");
        }
    }

    private static (UpgradeParseStatus, UpgradeFailure, long) ParseUpgrade(ReadOnlySequence<byte> buffer, UpgradeParserOptions options)
    {
        UpgradeParseStatus status = UpgradeRequestParser.TryParse(buffer, options, out UpgradeRequest? request, out UpgradeRejection rejection, out SequencePosition consumed);
        long consumedBytes = buffer.Slice(0, consumed).Length;
        switch (status)
        {
            case UpgradeParseStatus.Complete:
                if (request is null || consumedBytes == 0 || consumedBytes > MaxHeaderBytes)
                {
                    throw new FuzzInvariantException($"upgrade: Complete with request {request is not null}, consumed {consumedBytes}");
                }

                // Touch what the server reads from a request.
                _ = request.Path.Length + request.Key.Length + (request.Origin?.Length ?? 0) + request.Query.Length;
                break;
            case UpgradeParseStatus.Rejected:
                if (rejection.Failure == UpgradeFailure.None || !Enum.IsDefined(rejection.Failure) || consumedBytes != 0)
                {
                    throw new FuzzInvariantException($"upgrade: Rejected with failure {rejection.Failure}, consumed {consumedBytes}");
                }

                break;
            case UpgradeParseStatus.Incomplete:
                if (consumedBytes != 0 || buffer.Length >= MaxHeaderBytes)
                {
                    throw new FuzzInvariantException($"upgrade: Incomplete after {buffer.Length} bytes (limit {MaxHeaderBytes}), consumed {consumedBytes}");
                }

                break;
            default:
                throw new FuzzInvariantException($"upgrade: status {status}");
        }

        return (status, rejection.Failure, consumedBytes);
    }

    /// <summary>
    /// <see cref="WebSocketReader"/> as a server reads a client: the input fed whole, then fed in pieces of the size the
    /// first byte chooses (so that headers, masks and payloads split anywhere, and fragmented messages are assembled
    /// across reads); both must give the same messages, in the same order, and the same protocol error. The second byte
    /// chooses a small or the default message size limit.
    /// </summary>
    public static void Frames(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length < 2)
        {
            return;
        }

        int chunk = 1 + (input[0] % 23);
        var options = new WebSocketReaderOptions { MaxMessageSize = input[1] % 2 == 0 ? 256 : WebSocketReaderOptions.DefaultMaxMessageSize };
        byte[] data = input[2..];
        string whole = ReadFrames(data, data.Length, options);
        string split = ReadFrames(data, chunk, options);
        if (whole != split)
        {
            throw new FuzzInvariantException($"frames: read whole: {whole}; in pieces of {chunk}: {split}");
        }
    }

    /// <summary>Feeds <paramref name="data"/> (a fresh copy: the reader unmasks in place) in pieces; returns what came out.</summary>
    private static string ReadFrames(byte[] data, int chunk, WebSocketReaderOptions options)
    {
        var log = new System.Text.StringBuilder();
        using var reader = new WebSocketReader(options);
        byte[] pending = [];
        for (int offset = 0; offset < data.Length || offset == 0; offset += Math.Max(chunk, 1))
        {
            int take = Math.Min(chunk, data.Length - offset);
            // What the pipe would hold: the unconsumed rest of before, then the new bytes.
            byte[] held = new byte[pending.Length + Math.Max(take, 0)];
            pending.CopyTo(held, 0);
            data.AsSpan(offset, Math.Max(take, 0)).CopyTo(held.AsSpan(pending.Length));
            var buffer = new ReadOnlySequence<byte>(held);
            while (true)
            {
                long before = buffer.Length;
                WebSocketReadStatus status = reader.Read(ref buffer, out WebSocketMessage message);
                if (buffer.Length > before)
                {
                    throw new FuzzInvariantException("frames: the buffer grew");
                }

                if (status == WebSocketReadStatus.Message)
                {
                    if (!Enum.IsDefined(message.Type))
                    {
                        throw new FuzzInvariantException($"frames: message type {message.Type}");
                    }

                    if (message.Type == WebSocketMessageType.Text && !Utf8.IsValid(message.Payload.Span))
                    {
                        throw new FuzzInvariantException("frames: a text message that is not UTF-8");
                    }

                    if (!message.IsControl && message.Payload.Length > options.MaxMessageSize)
                    {
                        throw new FuzzInvariantException($"frames: a {message.Payload.Length}-byte message over the {options.MaxMessageSize} limit");
                    }

                    if (message.IsControl && message.Payload.Length > 125)
                    {
                        throw new FuzzInvariantException($"frames: a {message.Payload.Length}-byte control frame");
                    }

                    log.Append(message.Type).Append(':').Append(Convert.ToHexString(message.Payload.Span)).Append(';');
                    continue;
                }

                if (status == WebSocketReadStatus.ProtocolError)
                {
                    if (reader.ErrorCloseCode is not (CloseCode.ProtocolError or CloseCode.InvalidPayloadData or CloseCode.MessageTooBig))
                    {
                        throw new FuzzInvariantException($"frames: protocol error with close code {reader.ErrorCloseCode}");
                    }

                    return log.Append("error ").Append(reader.ErrorCloseCode).ToString();
                }

                if (status != WebSocketReadStatus.NeedMoreData)
                {
                    throw new FuzzInvariantException($"frames: status {status}");
                }

                break;
            }

            if (buffer.Length > 14)
            {
                throw new FuzzInvariantException($"frames: {buffer.Length} bytes left unconsumed (at most an incomplete 14-byte header may be)");
            }

            pending = buffer.ToArray();
            if (data.Length == 0)
            {
                break;
            }
        }

        return log.Append(reader.IsMessageInProgress ? "in progress" : "idle").ToString();
    }

    /// <summary>
    /// <see cref="Utf8StreamValidator"/> fed in pieces of the size the first byte chooses agrees with the framework's
    /// <see cref="Utf8.IsValid"/> on the whole, and so does <see cref="Utf8StreamValidator.IsValid"/>.
    /// </summary>
    public static void Utf8Stream(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length == 0)
        {
            return;
        }

        int chunk = 1 + (input[0] % 9);
        ReadOnlySpan<byte> text = input.AsSpan(1);
        bool expected = Utf8.IsValid(text);
        if (Utf8StreamValidator.IsValid(text) != expected)
        {
            throw new FuzzInvariantException($"utf8: IsValid says {!expected}, the framework {expected}");
        }

        var validator = new Utf8StreamValidator();
        bool ok = true;
        for (int offset = 0; offset < text.Length && ok; offset += chunk)
        {
            ok = validator.Append(text.Slice(offset, Math.Min(chunk, text.Length - offset)));
        }

        // Appending every piece accepts a prefix; the whole is valid only if no sequence is left open.
        bool streamed = ok && validator.IsComplete;
        if (streamed != expected)
        {
            throw new FuzzInvariantException($"utf8: streamed in pieces of {chunk} says {streamed}, the framework {expected}");
        }
    }

    /// <summary><see cref="ClientRequestParser.TryParse"/>: true or false with a reason, never an exception.</summary>
    public static void ClientRequest(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        bool ok = ClientRequestParser.TryParse(input, out ClientRequest request, out string error);
        if (ok == (error.Length > 0))
        {
            throw new FuzzInvariantException($"client-request: {(ok ? "accepted with" : "refused without")} a reason '{error}'");
        }

        if (ok && !Enum.IsDefined(request.Type))
        {
            throw new FuzzInvariantException($"client-request: type {request.Type}");
        }
    }

    /// <summary><paramref name="data"/> as a sequence of segments of <paramref name="size"/> bytes.</summary>
    public static ReadOnlySequence<byte> Segments(ReadOnlyMemory<byte> data, int size)
    {
        if (data.Length <= size)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var first = new Segment(data[..size], 0);
        Segment last = first;
        for (int offset = size; offset < data.Length; offset += size)
        {
            last = last.Append(data.Slice(offset, Math.Min(size, data.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
