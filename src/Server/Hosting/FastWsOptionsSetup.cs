using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace FastWs.Server.Hosting;

/// <summary>
/// The options pipeline for <see cref="FastWsOptions"/>: bound from the "FastWs" section, then the caller's
/// changes, then <see cref="FastWsOptionsValidator"/>, validated at start.
/// </summary>
public static class FastWsOptionsSetup
{
    /// <summary>
    /// Registers the pipeline: <c>AddOptions&lt;FastWsOptions&gt;().BindConfiguration("FastWs")</c>, <paramref name="configure"/>
    /// after binding, the validator, and <c>ValidateOnStart</c>.
    /// </summary>
    public static OptionsBuilder<FastWsOptions> AddFastWsOptions(this IServiceCollection services, Action<FastWsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FastWsOptions>, FastWsOptionsValidator>());
        OptionsBuilder<FastWsOptions> builder = services.AddOptions<FastWsOptions>().BindConfiguration(FastWsOptions.SectionName);
        if (configure is not null)
        {
            builder.PostConfigure(configure);
        }

        return builder.ValidateOnStart();
    }

    /// <summary>
    /// Runs the pipeline over <paramref name="configuration"/> and returns the validated options. <see cref="FastWsServer"/>
    /// needs them before its host is built (they choose the transport, the endpoints and the certificates), so the
    /// start is validated here, once, and the host's container is given this same instance.
    /// </summary>
    /// <exception cref="OptionsValidationException">
    /// A setting is invalid, or a value does not convert to its type: the message lists each problem with the
    /// setting's path, separated by "; ".
    /// </exception>
    public static FastWsOptions Load(IConfiguration configuration, Action<FastWsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var services = new ServiceCollection();
        services.AddSingleton(configuration);
        services.AddFastWsOptions(configure);
        using ServiceProvider provider = services.BuildServiceProvider();
        try
        {
            return provider.GetRequiredService<IOptions<FastWsOptions>>().Value;
        }
        catch (InvalidOperationException ex)
        {
            // The binder's "Failed to convert configuration value at 'FastWs:...' to type '...'" names the setting;
            // its inner exception says what was wrong with the value.
            string message = ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message;
            throw new OptionsValidationException(Options.DefaultName, typeof(FastWsOptions), [message]);
        }
    }
}
