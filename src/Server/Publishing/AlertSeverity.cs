namespace FastWs.Server.Publishing;

/// <summary>How serious a system alert is: written as <c>"info"</c>, <c>"warning"</c> or <c>"critical"</c>.</summary>
public enum AlertSeverity
{
    Info,
    Warning,
    Critical,
}
