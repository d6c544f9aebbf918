//! The CPU time the processes under test spend over the measured window
//! (`--cpu-of NAME=PID`, Linux: read from `/proc/PID/stat`). On a machine whose
//! cores they all share, what each process costs per call is what limits the
//! throughput, so the report gives it per call.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/PID/stat`'s times: `USER_HZ`, fixed at 100
/// by the Linux ABI on every architecture we run on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process to watch, named for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// What the report calls it (`worker`, `redis`, ...).
    pub name: String,
    /// Whose `/proc/PID/stat` is read.
    pub pid: u32,
}

/// Reads `NAME=PID` (e.g. `worker=4242`).
pub fn parse_watched(arg: &str) -> Result<Watched, String> {
    let (name, pid) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PID, got {arg:?}"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("expected a process id after '=', got {pid:?}"))?;
    if name.is_empty() {
        return Err(format!("expected a name before '=', got {arg:?}"));
    }
    Ok(Watched {
        name: name.to_owned(),
        pid,
    })
}

/// A process's CPU time over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuRow {
    /// The watched process's name.
    pub name: String,
    /// User plus system CPU seconds it spent over the window.
    pub seconds: f64,
}

/// User plus system time of every thread of `pid` so far.
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unreadable /proc/{pid}/stat"),
        )
    })
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command
/// name (field 2) is in parentheses and may hold spaces and parentheses itself, so
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (user + system) as f64 / TICKS_PER_SECOND,
    ))
}

/// Each watched process's CPU time between two samples.
pub fn spent(before: &[Duration], after: &[Duration], watched: &[Watched]) -> Vec<CpuRow> {
    watched
        .iter()
        .zip(before.iter().zip(after))
        .map(|(process, (before, after))| CpuRow {
            name: process.name.clone(),
            seconds: after.saturating_sub(*before).as_secs_f64(),
        })
        .collect()
}

/// Samples every watched process.
pub fn sample(watched: &[Watched]) -> anyhow::Result<Vec<Duration>> {
    watched
        .iter()
        .map(|process| {
            cpu_time(process.pid).map_err(|error| {
                anyhow::anyhow!(
                    "--cpu-of {}={}: cannot read its CPU time: {error}",
                    process.name,
                    process.pid
                )
            })
        })
        .collect()
}

/// The watched processes' CPU time between the window's start and end.
pub async fn over_window(
    watched: Vec<Watched>,
    start: Instant,
    end: Instant,
) -> anyhow::Result<Vec<CpuRow>> {
    if watched.is_empty() {
        return Ok(Vec::new());
    }
    tokio::time::sleep_until(start.into()).await;
    let before = sample(&watched)?;
    tokio::time::sleep_until(end.into()).await;
    let after = sample(&watched)?;
    Ok(spent(&before, &after, &watched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pids_are_read_and_bad_ones_named() {
        assert_eq!(
            parse_watched("worker=4242"),
            Ok(Watched {
                name: "worker".to_owned(),
                pid: 4242
            })
        );
        assert!(parse_watched("worker").unwrap_err().contains("NAME=PID"));
        assert!(
            parse_watched("worker=x")
                .unwrap_err()
                .contains("process id")
        );
        assert!(parse_watched("=12").unwrap_err().contains("name"));
    }

    #[test]
    fn user_and_system_ticks_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis in it.
        let stat = "4242 (fen liu) w) S 1 4242 4242 0 -1 4194560 1207 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_spends_cpu_when_it_works() {
        let me = [Watched {
            name: "me".to_owned(),
            pid: std::process::id(),
        }];
        let before = sample(&me).unwrap();
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while started.elapsed() < Duration::from_millis(150) {
            spin = spin.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(spin);
        let after = sample(&me).unwrap();
        let rows = spent(&before, &after, &me);
        assert_eq!(rows[0].name, "me");
        assert!(rows[0].seconds >= 0.05, "{rows:?}");
    }
}
