namespace FastWs.Protocol.Handshake;

/// <summary>Why a request was rejected, and the HTTP status to answer with.</summary>
public readonly struct UpgradeRejection : IEquatable<UpgradeRejection>
{
    private readonly string? _reason;

    /// <summary>Creates a rejection.</summary>
    public UpgradeRejection(UpgradeFailure failure, int statusCode, string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        Failure = failure;
        StatusCode = statusCode;
        _reason = reason;
    }

    /// <summary>The failure kind; <see cref="UpgradeFailure.None"/> for <c>default</c>.</summary>
    public UpgradeFailure Failure { get; }

    /// <summary>HTTP status code to answer with (400, 426 or 431 from the parser).</summary>
    public int StatusCode { get; }

    /// <summary>Short human-readable explanation, suitable as a response body.</summary>
    public string Reason => _reason ?? string.Empty;

    /// <inheritdoc />
    public bool Equals(UpgradeRejection other) =>
        Failure == other.Failure && StatusCode == other.StatusCode && string.Equals(Reason, other.Reason, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is UpgradeRejection other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Failure, StatusCode, Reason);

    /// <inheritdoc />
    public override string ToString() => $"{StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)} {Failure}: {Reason}";

    /// <summary>Equality operator.</summary>
    public static bool operator ==(UpgradeRejection left, UpgradeRejection right) => left.Equals(right);

    /// <summary>Inequality operator.</summary>
    public static bool operator !=(UpgradeRejection left, UpgradeRejection right) => !left.Equals(right);
}
