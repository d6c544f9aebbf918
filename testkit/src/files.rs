//! Files the test infrastructure makes and reads: a fresh temp directory per
//! process it starts, and the tail of a log for a failure message.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Creates a fresh, empty directory under [`std::env::temp_dir`] whose name
/// starts with `fenliu-<label>-` and is unique across processes and calls
/// (pid, a per-process counter and the clock). The caller owns it and is
/// responsible for removing it.
pub fn unique_temp_dir(label: &str) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "fenliu-{label}-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Returns the last `lines` lines of the file at `path` (lossy UTF-8), or a
/// note saying why it could not be read. Used for failure messages.
pub fn tail_file(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}
