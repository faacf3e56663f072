namespace FastWs.Protocol.Compression;

/// <summary>One parameter of an extension offer: <c>name</c> or <c>name=value</c>, the value unquoted.</summary>
public readonly record struct ExtensionParameter(string Name, string? Value);

/// <summary>
/// One element of a <c>Sec-WebSocket-Extensions</c> list (RFC 6455 section 9.1): an extension name and its
/// parameters, in the order sent. An element whose parameters do not follow the grammar keeps its name (so the
/// extension it was meant for can decline it) but is marked <see cref="IsWellFormed"/> = false.
/// </summary>
public sealed class ExtensionOffer
{
    internal ExtensionOffer(string name, IReadOnlyList<ExtensionParameter> parameters, bool isWellFormed)
    {
        Name = name;
        Parameters = parameters;
        IsWellFormed = isWellFormed;
    }

    /// <summary>The extension token, as sent (for example <c>permessage-deflate</c>).</summary>
    public string Name { get; }

    public IReadOnlyList<ExtensionParameter> Parameters { get; }

    /// <summary>False when a parameter was not a token, or a value was neither a token nor a closed quoted-string.</summary>
    public bool IsWellFormed { get; }

    public override string ToString() =>
        Parameters.Count == 0 ? Name : $"{Name}; {string.Join("; ", Parameters.Select(p => p.Value is null ? p.Name : $"{p.Name}={p.Value}"))}";
}
