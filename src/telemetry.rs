//! Structured logs on stderr (stdout stays clean for `mint-key`).

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, format: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("--log (MOLECULE_LOG): invalid filter {filter:?}: {e}"))?;
    // Colour only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match format {
        "text" => builder.try_init(),
        "json" => builder.json().try_init(),
        other => anyhow::bail!("--log-format (MOLECULE_LOG_FORMAT): expected text or json, got {other:?}"),
    };
    result.map_err(|e| anyhow::anyhow!("could not start logging: {e}"))
}
