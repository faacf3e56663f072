using System.Diagnostics.Metrics;

namespace FastWs.Server.Metrics;

/// <summary>
/// The <see cref="IMeterFactory"/> of a <see cref="Hosting.ServerState"/> made without a host (tests, benchmarks, an
/// embedding that builds the state itself): creates meters scoped to itself and disposes them with itself, as the
/// host's factory does for the meters of its container.
/// </summary>
internal sealed class StandaloneMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            options.Scope = this;
            var meter = new Meter(options);
            _meters.Add(meter);
            return meter;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (Meter meter in _meters)
            {
                meter.Dispose();
            }

            _meters.Clear();
        }
    }
}
