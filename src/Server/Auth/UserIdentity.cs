namespace FastWs.Server.Auth;

/// <summary>
/// The user a valid token names: its id (the configured user claim), its roles and when the token expires. Immutable:
/// a refreshed token replaces the whole object, so the supervisor's expiry sweep and the read loop never see half of one.
/// </summary>
public sealed class UserIdentity
{
    private readonly string[] _roles;

    public UserIdentity(string id, string[] roles, DateTime? expiresUtc)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(roles);
        Id = id;
        _roles = roles;
        ExpiresUtc = expiresUtc;
    }

    public string Id { get; }

    public IReadOnlyList<string> Roles => _roles;

    /// <summary>When the token stops being valid (its <c>exp</c>); null for a token without one.</summary>
    public DateTime? ExpiresUtc { get; }

    public bool HasRole(string role)
    {
        foreach (string candidate in _roles)
        {
            if (string.Equals(candidate, role, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a channel key names this user. 0x-hex addresses (wallets) compare case-insensitively, since their
    /// checksummed and lower-case spellings are the same address; anything else compares exactly.
    /// </summary>
    public bool Owns(ReadOnlySpan<char> key) =>
        IsHexAddress(key) && IsHexAddress(Id)
            ? key.Equals(Id, StringComparison.OrdinalIgnoreCase)
            : key.SequenceEqual(Id);

    /// <summary>Whether two identities are the same user (for refresh: a new token must name the same user).</summary>
    public bool IsSameUser(UserIdentity other) => other is not null && (IsHexAddress(Id) && IsHexAddress(other.Id)
        ? string.Equals(Id, other.Id, StringComparison.OrdinalIgnoreCase)
        : string.Equals(Id, other.Id, StringComparison.Ordinal));

    private static bool IsHexAddress(ReadOnlySpan<char> value) =>
        value.Length > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X') && !value[2..].ContainsAnyExcept(HexDigits);

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");
}
