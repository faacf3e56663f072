using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace FastWs.Protocol.Handshake;

/// <summary>
/// Parses the HTTP/1.1 request that opens a WebSocket connection (RFC 6455 section 4.2.1, RFC 9112 sections 2-5).
/// </summary>
/// <remarks>
/// Two passes over the header block. The first validates everything on the raw bytes and allocates nothing, so the
/// many calls that return <see cref="UpgradeParseStatus.Incomplete"/> while a request trickles in, and every rejected
/// garbage request, cost no garbage. Only once the request is known to be valid does the second pass create strings.
/// </remarks>
public static class UpgradeRequestParser
{
    // Lines of a normal handshake are short; longer lines split across segments fall back to a pooled array.
    private const int StackScratchSize = 256;

    private static readonly SearchValues<byte> Base64Alphabet =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"u8);

    private static ReadOnlySpan<byte> HttpVersionPattern => "HTTP/#.#"u8;

    /// <summary>
    /// Parses an upgrade request from the start of <paramref name="buffer"/>.
    /// </summary>
    /// <param name="buffer">Bytes received so far on the connection.</param>
    /// <param name="options">Limits; <c>null</c> is not allowed.</param>
    /// <param name="request">The request when <see cref="UpgradeParseStatus.Complete"/>, otherwise null.</param>
    /// <param name="rejection">Why and how to answer when <see cref="UpgradeParseStatus.Rejected"/>, otherwise default.</param>
    /// <param name="consumed">
    /// Just past the blank line that ends the headers when complete (bytes after it are WebSocket frames);
    /// <c>buffer.Start</c> otherwise.
    /// </param>
    /// <remarks>
    /// Stateless: each call rescans from the start, so on <see cref="UpgradeParseStatus.Incomplete"/> advance the
    /// reader with consumed = <c>buffer.Start</c> and examined = <c>buffer.End</c>, and call again when more arrives.
    /// The rescan is bounded by <see cref="UpgradeParserOptions.MaxHeaderBytes"/>.
    /// </remarks>
    public static UpgradeParseStatus TryParse(
        in ReadOnlySequence<byte> buffer,
        UpgradeParserOptions options,
        out UpgradeRequest? request,
        out UpgradeRejection rejection,
        out SequencePosition consumed)
    {
        ArgumentNullException.ThrowIfNull(options);
        request = null;
        consumed = buffer.Start;

        int limit = options.MaxHeaderBytes;

        // A header block that has not ended within the limit is rejected whatever follows, so never look further:
        // this also bounds the work redone on every call while a slow client sends its request.
        ReadOnlySequence<byte> window = buffer.Length > limit ? buffer.Slice(0, limit) : buffer;

        Span<byte> stackScratch = stackalloc byte[StackScratchSize];
        byte[]? rented = null;
        try
        {
            var reader = new SequenceReader<byte>(window);
            var summary = new HeaderSummary();
            bool sawRequestLine = false;
            while (true)
            {
                if (!reader.TryReadTo(out ReadOnlySequence<byte> lineSequence, (byte)'\n'))
                {
                    // Answer a client that sends garbage right away instead of waiting for a line end that may never come.
                    ReadOnlySpan<byte> partial = Flatten(reader.UnreadSequence, stackScratch, ref rented);
                    rejection = CheckPartialLine(partial, sawRequestLine);
                    if (rejection.Failure != UpgradeFailure.None)
                    {
                        return UpgradeParseStatus.Rejected;
                    }

                    // The window holds the first `limit` bytes and has no end of headers: the block is certainly too large.
                    if (buffer.Length >= limit)
                    {
                        rejection = Rejections.HeadersTooLarge;
                        return UpgradeParseStatus.Rejected;
                    }

                    return UpgradeParseStatus.Incomplete;
                }

                ReadOnlySpan<byte> line = Flatten(lineSequence, stackScratch, ref rented);
                rejection = StripCrlf(ref line);
                if (rejection.Failure != UpgradeFailure.None)
                {
                    return UpgradeParseStatus.Rejected;
                }

                if (!sawRequestLine)
                {
                    rejection = CheckRequestLine(line, isPrefix: false);
                    if (rejection.Failure != UpgradeFailure.None)
                    {
                        return UpgradeParseStatus.Rejected;
                    }

                    sawRequestLine = true;
                    continue;
                }

                if (line.IsEmpty)
                {
                    break;
                }

                rejection = CheckHeaderLine(line, isPrefix: false, out int colon);
                if (rejection.Failure == UpgradeFailure.None)
                {
                    rejection = summary.Add(line[..colon], HttpChars.TrimOws(line[(colon + 1)..]));
                }

                if (rejection.Failure != UpgradeFailure.None)
                {
                    return UpgradeParseStatus.Rejected;
                }
            }

            rejection = summary.Validate();
            if (rejection.Failure != UpgradeFailure.None)
            {
                return UpgradeParseStatus.Rejected;
            }

            // Positions of a slice are valid in the sequence it was sliced from.
            SequencePosition end = reader.Position;
            request = Build(window.Slice(0, end), stackScratch, ref rented);
            consumed = end;
            return UpgradeParseStatus.Complete;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// A line as one contiguous span: straight from the segment in the common case, copied when it straddles segments.
    /// The result is only valid until the next call, which may reuse the same scratch space.
    /// </summary>
    private static ReadOnlySpan<byte> Flatten(in ReadOnlySequence<byte> sequence, Span<byte> stackScratch, ref byte[]? rented)
    {
        if (sequence.IsSingleSegment)
        {
            return sequence.FirstSpan;
        }

        // Callers only pass slices of the window, so the length is bounded by MaxHeaderBytes and fits an int.
        int length = checked((int)sequence.Length);
        Span<byte> target;
        if (length <= stackScratch.Length)
        {
            target = stackScratch;
        }
        else
        {
            if (rented is null || rented.Length < length)
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }

                rented = ArrayPool<byte>.Shared.Rent(length);
            }

            target = rented;
        }

        sequence.CopyTo(target);
        return target[..length];
    }

    /// <summary>Removes the CR that must precede the LF already stripped by the reader (RFC 9112 section 2.2).</summary>
    private static UpgradeRejection StripCrlf(ref ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line[^1] != (byte)'\r')
        {
            return Rejections.BareLf;
        }

        line = line[..^1];
        return line.Contains((byte)'\r') ? Rejections.BareCr : default;
    }

    private static UpgradeRejection CheckPartialLine(ReadOnlySpan<byte> partial, bool sawRequestLine)
    {
        int cr = partial.IndexOf((byte)'\r');
        if (cr >= 0)
        {
            // Only a CR in last position can still be followed by its LF.
            if (cr != partial.Length - 1)
            {
                return Rejections.BareCr;
            }

            partial = partial[..^1];
        }

        return sawRequestLine
            ? CheckHeaderLine(partial, isPrefix: true, out _)
            : CheckRequestLine(partial, isPrefix: true);
    }

    /// <summary>
    /// request-line = method SP request-target SP HTTP-version, with exactly one SP between parts (RFC 9112 section 3).
    /// With <paramref name="isPrefix"/>, <paramref name="line"/> may be cut anywhere and only what is certainly wrong
    /// is reported.
    /// </summary>
    private static UpgradeRejection CheckRequestLine(ReadOnlySpan<byte> line, bool isPrefix)
    {
        int methodEnd = line.IndexOfAnyExcept(HttpChars.Token);
        if (methodEnd < 0)
        {
            // Methods are case-sensitive (RFC 9110 section 9.1); once the bytes cannot become "GET" the answer is known.
            if (!"GET"u8.StartsWith(line))
            {
                return Rejections.MethodNotGet;
            }

            return isPrefix ? default : Rejections.MalformedRequestLine;
        }

        if (line[methodEnd] != HttpChars.Space)
        {
            return Rejections.InvalidMethodChar;
        }

        if (methodEnd == 0)
        {
            return Rejections.MalformedRequestLine;
        }

        if (!line[..methodEnd].SequenceEqual("GET"u8))
        {
            return Rejections.MethodNotGet;
        }

        ReadOnlySpan<byte> rest = line[(methodEnd + 1)..];
        if (rest.IsEmpty)
        {
            return isPrefix ? default : Rejections.MalformedRequestLine;
        }

        // Only origin-form: absolute-form is for proxies, authority-form for CONNECT, asterisk-form for OPTIONS.
        if (rest[0] != (byte)'/')
        {
            return Rejections.TargetNotPath;
        }

        int targetEnd = rest.IndexOfAnyExcept(HttpChars.Target);
        if (targetEnd < 0)
        {
            return isPrefix ? default : Rejections.MalformedRequestLine;
        }

        if (rest[targetEnd] != HttpChars.Space)
        {
            return Rejections.InvalidTargetChar;
        }

        return CheckHttpVersion(rest[(targetEnd + 1)..], isPrefix);
    }

    private static UpgradeRejection CheckHttpVersion(ReadOnlySpan<byte> version, bool isPrefix)
    {
        ReadOnlySpan<byte> pattern = HttpVersionPattern;
        if (version.Length > pattern.Length)
        {
            return Rejections.MalformedHttpVersion;
        }

        for (int i = 0; i < version.Length; i++)
        {
            bool ok = pattern[i] == (byte)'#' ? char.IsAsciiDigit((char)version[i]) : version[i] == pattern[i];
            if (!ok)
            {
                return Rejections.MalformedHttpVersion;
            }
        }

        if (version.Length < pattern.Length)
        {
            return isPrefix ? default : Rejections.MalformedRequestLine;
        }

        // HTTP/1.0 has no Upgrade mechanism (RFC 6455 section 4.1 requires 1.1 or later; 2.x never arrives as text).
        return version.SequenceEqual("HTTP/1.1"u8) ? default : Rejections.UnsupportedHttpVersion;
    }

    /// <summary>field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5).</summary>
    private static UpgradeRejection CheckHeaderLine(ReadOnlySpan<byte> line, bool isPrefix, out int colon)
    {
        colon = -1;
        if (line.IsEmpty)
        {
            // Only reachable for a prefix: a complete empty line ends the headers and never gets here.
            return default;
        }

        // RFC 9112 section 5.2: obs-fold must be rejected (or replaced) by a server; reject, since lenient folding
        // is a classic request-smuggling vector between proxies and servers.
        if (line[0] is HttpChars.Space or HttpChars.Tab)
        {
            return Rejections.ObsFold;
        }

        int nameEnd = line.IndexOfAnyExcept(HttpChars.Token);
        if (nameEnd < 0)
        {
            return isPrefix ? default : Rejections.MissingColon;
        }

        byte stop = line[nameEnd];
        if (stop != (byte)':')
        {
            // RFC 9112 section 5.1: whitespace before the colon must be rejected with 400.
            return stop is HttpChars.Space or HttpChars.Tab ? Rejections.SpaceBeforeColon : Rejections.InvalidHeaderNameChar;
        }

        if (nameEnd == 0)
        {
            return Rejections.EmptyHeaderName;
        }

        ReadOnlySpan<byte> value = line[(nameEnd + 1)..];
        if (value.ContainsAnyExcept(HttpChars.FieldValue))
        {
            return Rejections.ControlCharInValue;
        }

        // A prefix may end inside a multi-byte sequence; judge UTF-8 only on whole values.
        if (!isPrefix && !Utf8.IsValid(value))
        {
            return Rejections.InvalidUtf8;
        }

        colon = nameEnd;
        return default;
    }

    private static UpgradeRequest Build(in ReadOnlySequence<byte> headerBlock, Span<byte> stackScratch, ref byte[]? rented)
    {
        // Everything below was validated by the first pass, so this only slices and decodes.
        var reader = new SequenceReader<byte>(headerBlock);
        reader.TryReadTo(out ReadOnlySequence<byte> lineSequence, (byte)'\n');
        ReadOnlySpan<byte> line = Flatten(lineSequence, stackScratch, ref rented);

        // "GET " + target + " HTTP/1.1\r"
        ReadOnlySpan<byte> targetBytes = line[4..^10];
        string target = Encoding.ASCII.GetString(targetBytes);
        int question = target.IndexOf('?', StringComparison.Ordinal);
        string path = question < 0 ? target : target[..question];
        string query = question < 0 ? string.Empty : target[(question + 1)..];

        var headers = new List<KeyValuePair<string, string>>(16);
        string? host = null, origin = null, key = null, extensions = null, authorization = null, forwardedFor = null;
        List<string>? subProtocols = null;

        while (reader.TryReadTo(out lineSequence, (byte)'\n'))
        {
            line = Flatten(lineSequence, stackScratch, ref rented)[..^1];
            if (line.IsEmpty)
            {
                break;
            }

            int colon = line.IndexOf((byte)':');
            ReadOnlySpan<byte> nameBytes = line[..colon];
            ReadOnlySpan<byte> valueBytes = HttpChars.TrimOws(line[(colon + 1)..]);
            KnownHeader known = KnownHeaders.Classify(nameBytes);
            string name = KnownHeaders.CanonicalName(known) ?? Encoding.ASCII.GetString(nameBytes);
            string value = Encoding.UTF8.GetString(valueBytes);
            headers.Add(new KeyValuePair<string, string>(name, value));

            switch (known)
            {
                case KnownHeader.Host:
                    host = value;
                    break;
                case KnownHeader.Origin:
                    origin = value;
                    break;
                case KnownHeader.SecWebSocketKey:
                    key = value;
                    break;
                case KnownHeader.Authorization:
                    authorization = value;
                    break;
                case KnownHeader.SecWebSocketExtensions:
                    extensions = Join(extensions, value);
                    break;
                case KnownHeader.XForwardedFor:
                    forwardedFor = Join(forwardedFor, value);
                    break;
                case KnownHeader.SecWebSocketProtocol:
                    AddTokens(ref subProtocols, valueBytes);
                    break;
            }
        }

        return new UpgradeRequest(
            target,
            path,
            query,
            host!,
            origin,
            key!,
            subProtocols is null ? Array.Empty<string>() : subProtocols.AsReadOnly(),
            extensions,
            authorization,
            forwardedFor,
            headers.ToArray());
    }

    private static string Join(string? existing, string value) =>
        existing is null ? value : string.Concat(existing, ", ", value);

    private static void AddTokens(ref List<string>? tokens, ReadOnlySpan<byte> list)
    {
        while (true)
        {
            int comma = list.IndexOf((byte)',');
            ReadOnlySpan<byte> element = HttpChars.TrimOws(comma < 0 ? list : list[..comma]);

            // RFC 9110 section 5.6.1: empty list elements are allowed and ignored.
            if (!element.IsEmpty)
            {
                (tokens ??= new List<string>(4)).Add(Encoding.ASCII.GetString(element));
            }

            if (comma < 0)
            {
                return;
            }

            list = list[(comma + 1)..];
        }
    }

    /// <summary>What the first pass learns about the headers that decide acceptance, without allocating.</summary>
    private struct HeaderSummary
    {
        private int _hostCount;
        private bool _hostEmpty;
        private int _keyCount;
        private bool _keyValid;
        private int _versionCount;
        private bool _version13;
        private bool _upgradeWebSocket;
        private bool _connectionUpgrade;
        private bool _hasOrigin;
        private bool _hasAuthorization;

        public UpgradeRejection Add(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            switch (KnownHeaders.Classify(name))
            {
                case KnownHeader.Host:
                    // Two Hosts let a proxy and this server disagree about the target (RFC 9112 section 3.2).
                    if (++_hostCount > 1)
                    {
                        return Rejections.DuplicateHost;
                    }

                    _hostEmpty = value.IsEmpty;
                    break;

                case KnownHeader.Upgrade:
                    _upgradeWebSocket |= HttpChars.ListContains(value, "websocket"u8);
                    break;

                case KnownHeader.Connection:
                    _connectionUpgrade |= HttpChars.ListContains(value, "upgrade"u8);
                    break;

                case KnownHeader.SecWebSocketKey:
                    if (++_keyCount > 1)
                    {
                        return Rejections.DuplicateKey;
                    }

                    _keyValid = IsValidKey(value);
                    break;

                case KnownHeader.SecWebSocketVersion:
                    if (++_versionCount > 1)
                    {
                        return Rejections.DuplicateVersion;
                    }

                    _version13 = value.SequenceEqual("13"u8);
                    break;

                case KnownHeader.SecWebSocketProtocol:
                    if (!IsTokenList(value))
                    {
                        return Rejections.InvalidSubProtocol;
                    }

                    break;

                case KnownHeader.Origin:
                    // Origin checks are the CSRF defence for WebSockets; an ambiguous Origin must not reach them.
                    if (_hasOrigin)
                    {
                        return Rejections.DuplicateOrigin;
                    }

                    _hasOrigin = true;
                    break;

                case KnownHeader.Authorization:
                    if (_hasAuthorization)
                    {
                        return Rejections.DuplicateAuthorization;
                    }

                    _hasAuthorization = true;
                    break;

                case KnownHeader.ContentLength:
                    // Body bytes would be misread as WebSocket frames; Kestrel rejects these upgrades for the same reason.
                    if (value.IsEmpty || value.ContainsAnyExcept((byte)'0'))
                    {
                        return Rejections.UnexpectedBody;
                    }

                    break;

                case KnownHeader.TransferEncoding:
                    return Rejections.UnexpectedBody;
            }

            return default;
        }

        /// <summary>Checks in a fixed order so the answer does not depend on header order.</summary>
        public readonly UpgradeRejection Validate()
        {
            if (_hostCount == 0 || _hostEmpty)
            {
                return Rejections.MissingHost;
            }

            // Checked before the other WebSocket headers: without it this is plain HTTP, and 426 is the useful answer.
            if (!_upgradeWebSocket)
            {
                return Rejections.MissingUpgrade;
            }

            if (!_connectionUpgrade)
            {
                return Rejections.MissingConnectionUpgrade;
            }

            // Before the key: clients of older drafts send no Sec-WebSocket-Key and the 426 tells them to use 13
            // (RFC 6455 section 4.4).
            if (!_version13)
            {
                return Rejections.UnsupportedVersion;
            }

            if (_keyCount == 0)
            {
                return Rejections.MissingKey;
            }

            return _keyValid ? default : Rejections.InvalidKey;
        }

        /// <summary>
        /// Base64 of 16 bytes is exactly 22 alphabet characters and "==". Nonzero trailing bits are accepted, as
        /// decoders commonly do: the key is only echoed back hashed.
        /// </summary>
        private static bool IsValidKey(ReadOnlySpan<byte> key) =>
            key.Length == 24
            && key[22] == (byte)'='
            && key[23] == (byte)'='
            && !key[..22].ContainsAnyExcept(Base64Alphabet);

        private static bool IsTokenList(ReadOnlySpan<byte> list)
        {
            while (true)
            {
                int comma = list.IndexOf((byte)',');
                ReadOnlySpan<byte> element = HttpChars.TrimOws(comma < 0 ? list : list[..comma]);
                if (!element.IsEmpty && !HttpChars.IsToken(element))
                {
                    return false;
                }

                if (comma < 0)
                {
                    return true;
                }

                list = list[(comma + 1)..];
            }
        }
    }
}
