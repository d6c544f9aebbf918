//! Logging set-up, shared by every fenliu binary: structured lines to stderr,
//! filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The filter without `RUST_LOG`: info for fenliu, warn for the libraries.
pub const DEFAULT_FILTER: &str =
    "warn,fenliu=info,fenliu_node=info,fenliu_worker=info,fenliu_dispatcher=info,fenliu_cli=info";

/// Structured logs to stderr. `RUST_LOG` filters (default: info for fenliu, warn
/// for the libraries, whose per-connection noise drowns the decisions otherwise).
pub fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
