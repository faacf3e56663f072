using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

// Entry point for all benchmarks; see perf/README.md. Examples (from the repository root):
//   dotnet run -c Release --project perf/FastWs.Benchmarks -- --filter '*'              full run (slow on 2 cores)
//   dotnet run -c Release --project perf/FastWs.Benchmarks -- --filter '*' --job short  3 warm-up + 3 measured iterations
//   dotnet run -c Release --project perf/FastWs.Benchmarks -- --filter '*' --job dry --inProcess
//       smoke test (CI): 1 cold iteration per case, numbers meaningless; --inProcess skips building and launching
//       a generated project per run (seconds instead of ~30 s)
//   dotnet run -c Release --project perf/FastWs.Benchmarks -- --filter '*Masking*'      one class
IEnumerable<Summary> summaries = BenchmarkSwitcher.FromAssembly(typeof(FastWs.Benchmarks.FrameParseBenchmarks).Assembly).Run(args);

// BenchmarkDotNet exits with 0 even when a benchmark fails (build error, or a GlobalSetup sanity check that
// throws). Fail the process instead, so a CI smoke run (--job dry) catches it.
bool failed = summaries.Any(summary => summary.HasCriticalValidationErrors || summary.Reports.Any(report => !report.Success));
return failed ? 1 : 0;
