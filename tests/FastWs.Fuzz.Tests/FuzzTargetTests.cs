namespace FastWs.Fuzz.Tests;

/// <summary>
/// Every fuzz target on the committed seed corpus, the inputs kept from fuzzing sessions (regressions/), and a few
/// thousand inputs made here with a fixed seed (random bytes, and the seeds mutated the way AFL does: bit flips, byte
/// sets, insertions, deletions, splices). A target returns normally for every input; anything it throws, a
/// <see cref="FuzzInvariantException"/> included, fails the test with the input in hex.
/// </summary>
public sealed class FuzzTargetTests
{
    private const int RandomInputs = 1500;
    private const int MutationsPerSeed = 300;

    public static TheoryData<string> Targets() => new(FuzzTargets.All.Keys);

    private static string Folder(string kind, string target) => Path.Combine(AppContext.BaseDirectory, kind, target);

    private static List<byte[]> Files(string kind, string target) =>
        Directory.Exists(Folder(kind, target))
            ? [.. Directory.GetFiles(Folder(kind, target)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)]
            : [];

    private static void Run(string target, byte[] input, string origin)
    {
        try
        {
            FuzzTargets.All[target](input);
        }
        catch (Exception ex)
        {
            Assert.Fail($"{target} on {origin} ({input.Length} bytes: {Convert.ToHexString(input)}): {ex}");
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Seed_corpus_is_committed_and_passes(string target)
    {
        List<byte[]> seeds = Files("corpus", target);
        Assert.True(seeds.Count >= 4, $"{seeds.Count} seeds for {target}");
        foreach (byte[] seed in seeds)
        {
            Run(target, seed, "a seed");
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Regression_inputs_pass(string target)
    {
        foreach (byte[] input in Files("regressions", target))
        {
            Run(target, input, "a regression input");
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Random_and_mutated_inputs_with_a_fixed_seed_pass(string target)
    {
        var random = new Random(20261207 + target.Length);
        for (int i = 0; i < RandomInputs; i++)
        {
            byte[] input = new byte[random.Next(0, i % 10 == 0 ? 4096 : 256)];
            random.NextBytes(input);
            Run(target, input, $"random input {i}");
        }

        List<byte[]> seeds = Files("corpus", target);
        foreach (byte[] seed in seeds)
        {
            for (int i = 0; i < MutationsPerSeed; i++)
            {
                Run(target, Mutate(seed, seeds, random), $"mutation {i}");
            }
        }
    }

    /// <summary>One to four of AFL's havoc steps.</summary>
    private static byte[] Mutate(byte[] seed, List<byte[]> seeds, Random random)
    {
        var data = new List<byte>(seed);
        int steps = random.Next(1, 5);
        for (int s = 0; s < steps; s++)
        {
            int at = data.Count == 0 ? 0 : random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0 when data.Count > 0:
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[at] = (byte)(random.Next(2) == 0 ? random.Next(256) : new byte[] { 0, 0x7f, 0x80, 0xff, (byte)'\r', (byte)'\n', (byte)':' }[random.Next(7)]);
                    break;
                case 2:
                    data.InsertRange(at, Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256)));
                    break;
                case 3 when data.Count > 0:
                    data.RemoveRange(at, Math.Min(random.Next(1, 16), data.Count - at));
                    break;
                case 4 when data.Count > 0:
                    // Duplicate a block (a header line twice, a frame twice).
                    int length = Math.Min(random.Next(1, 64), data.Count - at);
                    data.InsertRange(random.Next(data.Count), data.GetRange(at, length));
                    break;
                case 5:
                    byte[] other = seeds[random.Next(seeds.Count)];
                    int from = other.Length == 0 ? 0 : random.Next(other.Length);
                    data.RemoveRange(at, data.Count - at);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                default:
                    if (data.Count > 0)
                    {
                        data[at] = (byte)(data[at] + random.Next(-35, 36));
                    }

                    break;
            }
        }

        return [.. data];
    }
}
