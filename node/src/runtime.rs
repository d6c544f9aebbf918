//! The async runtime every fenliu process runs on. Its worker-thread count comes
//! from `FENLIU_RUNTIME_THREADS` (default: one per available core, tokio's own
//! default): where several busy processes share few cores, fewer threads per
//! process means fewer context switches, which this machine's profiles showed to
//! be the largest single cost of a call.

use anyhow::Context;

/// Builds the runtime, reading `FENLIU_RUNTIME_THREADS`, and installs the
/// process' TLS crypto provider first (see [`crate::crypto`]): every fenliu
/// binary builds its runtime before anything that could build a TLS config.
pub fn build() -> anyhow::Result<tokio::runtime::Runtime> {
    crate::crypto::install_crypto_provider();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Ok(value) = std::env::var("FENLIU_RUNTIME_THREADS") {
        let threads: usize = value
            .parse()
            .ok()
            .filter(|threads| *threads > 0)
            .with_context(|| {
                format!("FENLIU_RUNTIME_THREADS must be a positive number, got {value:?}")
            })?;
        builder.worker_threads(threads);
    }
    Ok(builder.build()?)
}
