using FastWs.Fuzz;
using SharpFuzz;

// FastWs.Fuzz <target>: one fuzz target under AFL++ (afl-fuzz ... -- dotnet FastWs.Fuzz.dll <target>), see README.md.
// Without AFL it runs the target once on standard input, which is how a crash file is replayed:
//   dotnet FastWs.Fuzz.dll frames < findings/default/crashes/id:000000...
if (args.Length != 1 || !FuzzTargets.All.TryGetValue(args[0], out Action<byte[]>? target))
{
    Console.Error.WriteLine($"usage: FastWs.Fuzz <{string.Join('|', FuzzTargets.All.Keys)}>");
    return 2;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    target(copy.ToArray());
});
return 0;
