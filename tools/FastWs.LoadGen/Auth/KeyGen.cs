using System.Security.Cryptography;

namespace FastWs.LoadGen.Auth;

/// <summary>
/// <c>keygen es256 --out DIR</c>: an EC P-256 key pair for <c>--mint-token es256</c>, the same files as
/// <c>openssl ecparam -name prime256v1 -genkey -noout -out key.pem; openssl ec -in key.pem -pubout -out pub.pem</c>.
/// </summary>
internal static class KeyGen
{
    public const string PrivateKeyFile = "key.pem";

    public const string PublicKeyFile = "pub.pem";

    public static int Run(string directory, bool force)
    {
        string keyPath = Path.Combine(directory, PrivateKeyFile);
        string pubPath = Path.Combine(directory, PublicKeyFile);
        if (!force && (File.Exists(keyPath) || File.Exists(pubPath)))
        {
            Console.Error.WriteLine($"error: {keyPath} or {pubPath} exists already (--force overwrites; a server may still trust the old key)");
            return Program.ExitFatal;
        }

        try
        {
            Directory.CreateDirectory(directory);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            WritePrivate(keyPath, key.ExportECPrivateKeyPem());
            File.WriteAllText(pubPath, key.ExportSubjectPublicKeyInfoPem() + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: cannot write the key pair to {directory}: {ex.Message}");
            return Program.ExitFatal;
        }

        Console.Out.WriteLine($"wrote {keyPath} (private: --mint-key) and {pubPath} (public: FastWs:Auth:Jwt:PublicKeyFiles:0)");
        return Program.ExitOk;
    }

    /// <summary>The private key readable by its owner only (0600), as ssh-keygen and openssl leave theirs.</summary>
    private static void WritePrivate(string path, string pem)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(path, options);
        writer.Write(pem);
        writer.Write('\n');
    }
}
