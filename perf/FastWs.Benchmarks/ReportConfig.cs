using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace FastWs.Benchmarks;

/// <summary>
/// Declares how many payload bytes one benchmark operation processes, either as a constant or as the value of a
/// [Params] property, so <see cref="ThroughputColumn"/> can turn the median time into GB/s.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ThroughputAttribute : Attribute
{
    public ThroughputAttribute(int bytes) => Bytes = bytes;

    public ThroughputAttribute(string parameterName) => ParameterName = parameterName;

    public int Bytes { get; }

    public string? ParameterName { get; }
}

/// <summary>
/// Shared report settings: always show the median (robust against the interference a shared 2-core machine
/// adds), and "Bytes/op" and "GB/s" (decimal: 10^9 bytes per second, i.e. bytes / median-ns) columns for
/// benchmarks marked with <see cref="ThroughputAttribute"/>.
/// </summary>
public sealed class ReportConfig : ManualConfig
{
    public ReportConfig()
    {
        AddColumn(StatisticColumn.Median, new ThroughputColumn(showRate: false), new ThroughputColumn(showRate: true));
    }
}

public sealed class ThroughputColumn : IColumn
{
    private readonly bool _showRate;

    public ThroughputColumn(bool showRate) => _showRate = showRate;

    public string Id => _showRate ? "Throughput.GBps" : "Throughput.Bytes";

    public string ColumnName => _showRate ? "GB/s" : "Bytes/op";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => _showRate ? 1 : 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => _showRate
        ? "Payload throughput: Bytes/op divided by Median in ns (decimal GB/s, 1 GB = 10^9 bytes)"
        : "Payload bytes processed by one operation";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(benchmarkCase);
        long? bytes = GetBytes(benchmarkCase);
        if (bytes is null)
        {
            return "-";
        }

        if (!_showRate)
        {
            return bytes.Value.ToString(CultureInfo.InvariantCulture);
        }

        double? medianNs = summary[benchmarkCase]?.ResultStatistics?.Median;
        return medianNs is > 0 ? (bytes.Value / medianNs.Value).ToString("F2", CultureInfo.InvariantCulture) : "?";
    }

    private static long? GetBytes(BenchmarkCase benchmarkCase)
    {
        ThroughputAttribute? attribute = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<ThroughputAttribute>();
        if (attribute is null)
        {
            return null;
        }

        if (attribute.ParameterName is null)
        {
            return attribute.Bytes;
        }

        object? value = benchmarkCase.Parameters[attribute.ParameterName];
        return value is null ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }
}
