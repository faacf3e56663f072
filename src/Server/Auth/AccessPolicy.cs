using System.ComponentModel;
using System.Globalization;

namespace FastWs.Server.Auth;

/// <summary>The kinds of rule a namespace can set for subscribing or publishing.</summary>
public enum AccessKind
{
    /// <summary>Every connection, anonymous ones included.</summary>
    Anyone,

    /// <summary>Connections with a valid token.</summary>
    Authenticated,

    /// <summary>The user the channel key names (<c>user:0xabc</c> for the user 0xabc).</summary>
    Owner,

    /// <summary>Users whose token lists the role (<c>Role:trader</c>).</summary>
    Role,

    /// <summary>Clients on this host (127.0.0.0/8 or ::1) not speaking for a web page of a foreign origin: a feed handler.</summary>
    Loopback,

    /// <summary>No connection; only the in-process API.</summary>
    Nobody,
}

/// <summary>
/// Who may subscribe to or publish in a namespace: one of <c>Anyone</c>, <c>Authenticated</c>, <c>Owner</c>,
/// <c>Role:&lt;name&gt;</c>, <c>Loopback</c> or <c>Nobody</c>, as written in configuration
/// (<c>FastWs:Namespaces:user:Subscribe=Owner</c>). Parsed once at start-up; deciding is a switch, no allocation.
/// </summary>
[TypeConverter(typeof(AccessPolicyConverter))]
public sealed class AccessPolicy : IEquatable<AccessPolicy>
{
    private AccessPolicy(AccessKind kind, string? role)
    {
        Kind = kind;
        RoleName = role;
    }

    public static AccessPolicy Anyone { get; } = new(AccessKind.Anyone, null);

    public static AccessPolicy Authenticated { get; } = new(AccessKind.Authenticated, null);

    public static AccessPolicy Owner { get; } = new(AccessKind.Owner, null);

    public static AccessPolicy Loopback { get; } = new(AccessKind.Loopback, null);

    public static AccessPolicy Nobody { get; } = new(AccessKind.Nobody, null);

    public static AccessPolicy Role(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return new AccessPolicy(AccessKind.Role, name);
    }

    public AccessKind Kind { get; }

    /// <summary>The role a <see cref="AccessKind.Role"/> rule asks for.</summary>
    public string? RoleName { get; }

    /// <summary>Whether only a connection with a valid token can pass (so an unauthenticated one may still pass after auth).</summary>
    public bool NeedsUser => Kind is AccessKind.Authenticated or AccessKind.Owner or AccessKind.Role;

    /// <summary>Whether <paramref name="caller"/> passes for a channel with key <paramref name="key"/> (empty for a bare namespace).</summary>
    public bool Allows(in Caller caller, ReadOnlySpan<char> key) => Kind switch
    {
        AccessKind.Anyone => true,
        AccessKind.Authenticated => caller.User is not null,
        AccessKind.Owner => caller.User is { } user && !key.IsEmpty && user.Owns(key),
        AccessKind.Role => caller.User is { } user && user.HasRole(RoleName!),
        AccessKind.Loopback => caller.IsTrustedLoopback,
        _ => false,
    };

    /// <summary>Whether <paramref name="caller"/> passes for at least one key (Owner: its own), i.e. may use the namespace at all.</summary>
    public bool AllowsSomeKey(in Caller caller) =>
        Kind == AccessKind.Owner ? caller.User is not null : Allows(caller, []);

    /// <summary>The sentence a <c>forbidden</c> error carries: which rule refused.</summary>
    public string Explain(string action, ReadOnlySpan<char> namespaceName) => Kind switch
    {
        AccessKind.Authenticated => $"{action} in '{namespaceName}' needs an authenticated user (rule Authenticated)",
        AccessKind.Owner => $"{action} in '{namespaceName}' is only for the user the channel key names (rule Owner)",
        AccessKind.Role => $"{action} in '{namespaceName}' needs role '{RoleName}' (rule Role:{RoleName})",
        AccessKind.Loopback => $"{action} in '{namespaceName}' is only for clients on the server's host (rule Loopback)",
        AccessKind.Nobody => $"{action} in '{namespaceName}' is not allowed to any client (rule Nobody)",
        _ => $"{action} in '{namespaceName}' is not allowed",
    };

    /// <summary>Parses a rule as configuration spells it (case-insensitive kinds; the role name is kept as written).</summary>
    public static bool TryParse(string? text, out AccessPolicy policy)
    {
        policy = Anyone;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string trimmed = text.Trim();
        if (trimmed.StartsWith("Role:", StringComparison.OrdinalIgnoreCase))
        {
            string role = trimmed["Role:".Length..].Trim();
            if (role.Length == 0)
            {
                return false;
            }

            policy = Role(role);
            return true;
        }

        AccessPolicy? known = trimmed.ToUpperInvariant() switch
        {
            "ANYONE" => Anyone,
            "AUTHENTICATED" => Authenticated,
            "OWNER" => Owner,
            "LOOPBACK" => Loopback,
            "NOBODY" => Nobody,
            _ => null,
        };
        if (known is null)
        {
            return false;
        }

        policy = known;
        return true;
    }

    public static AccessPolicy Parse(string text) => TryParse(text, out AccessPolicy policy)
        ? policy
        : throw new FormatException($"'{text}' is not an access rule; expected Anyone, Authenticated, Owner, Role:<name>, Loopback or Nobody");

    public override string ToString() => Kind == AccessKind.Role ? "Role:" + RoleName : Kind.ToString();

    public bool Equals(AccessPolicy? other) => other is not null && Kind == other.Kind && string.Equals(RoleName, other.RoleName, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as AccessPolicy);

    public override int GetHashCode() => HashCode.Combine(Kind, RoleName);
}

/// <summary>Lets configuration binding turn "Role:trader" into an <see cref="AccessPolicy"/>.</summary>
public sealed class AccessPolicyConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? AccessPolicy.Parse(text) : base.ConvertFrom(context, culture, value);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) =>
        destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is AccessPolicy policy ? policy.ToString() : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>What an access rule looks at: whether the client is a trusted local process, and the user, if any.</summary>
public readonly record struct Caller(bool IsTrustedLoopback, UserIdentity? User);
