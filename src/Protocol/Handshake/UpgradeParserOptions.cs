namespace FastWs.Protocol.Handshake;

/// <summary>Limits applied by <see cref="UpgradeRequestParser"/>.</summary>
public sealed class UpgradeParserOptions
{
    /// <summary>
    /// Maximum size of the request line plus all headers, including the CRLF that ends each line and the final blank line.
    /// </summary>
    public int MaxHeaderBytes
    {
        get;
        set
        {
            // The shortest acceptable request is far longer than this; anything smaller can only be a configuration mistake.
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 16);
            field = value;
        }
    } = 8192;
}
