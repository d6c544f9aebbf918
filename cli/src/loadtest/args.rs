//! The command line of `fenliu loadtest`: its flags (with their env var and
//! defaults, which are the help text) and the checks of their ranges, made
//! before anything is contacted.

use std::path::PathBuf;

use super::cpu;
use crate::client::CallerArgs;

/// Closed-loop tasks when neither `--rps` nor `--concurrency` is given.
pub const DEFAULT_CONCURRENCY: usize = 64;

// No doc comment here: clap would take it for the subcommand's help text.
#[derive(Debug, clap::Args)]
pub struct LoadtestArgs {
    /// The dispatcher or worker to load (the only address contacted).
    #[arg(long, env = "FENLIU_ADDR", default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// The bearer token every call carries (a node with authentication on).
    #[command(flatten)]
    pub caller: CallerArgs,
    /// gRPC connections (HTTP/2 channels), used round-robin.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Shops created for the run.
    #[arg(long, default_value_t = 100)]
    pub shops: usize,
    /// Popularity skew: shop k receives a share of buyers ∝ 1/k^s (0: uniform).
    #[arg(long, default_value_t = 1.1)]
    pub zipf_s: f64,
    /// Customer-service accounts per shop, all ONLINE.
    #[arg(long, default_value_t = 20)]
    pub accounts: usize,
    /// Sessions an account serves at once (1..500).
    #[arg(long, default_value_t = 10)]
    pub max_concurrent: u32,
    /// Seconds an ended session keeps its slot (R15; 20 minutes in real shops).
    #[arg(long, default_value_t = 2)]
    pub close_delay_seconds: u32,
    /// Share of sessions started by a buyer seen before in the shop (R5).
    #[arg(long, default_value_t = 0.3)]
    pub returning: f64,
    /// Messages per session: the first routes the buyer, the others hit R1.
    #[arg(long, default_value_t = 3)]
    pub messages_per_session: u32,
    /// Milliseconds between a session's last message and its EndSession.
    #[arg(long, default_value_t = 200)]
    pub think_ms: u64,
    /// Share of sessions whose first message addresses a random account (R2).
    #[arg(long, default_value_t = 0.05)]
    pub addressed: f64,
    /// Share of sessions the main account transfers to another account (R16).
    #[arg(long, default_value_t = 0.02)]
    pub transfers: f64,
    /// Open loop: Route calls per second at fixed intervals, whether or not
    /// earlier calls were answered; latency counts from the scheduled time.
    #[arg(long, conflicts_with = "concurrency")]
    pub rps: Option<f64>,
    /// Closed loop (the default, with 64): tasks each sending their next Route
    /// when the previous one is answered.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measurement, left out of the figures.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Deadline of each call, in milliseconds, sent to the server (which
    /// answers a late call with an error); this side gives up 1 s later.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also write the report as a self-contained HTML page (plots as inline
    /// SVG, each with its figures in a table; no script, no network) to
    /// this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit non-zero when the Route p99 (corrected) is above this many ms.
    #[arg(long)]
    pub slo_p99_ms: Option<f64>,
    /// One more shop, apart from --shops, sends this many Route calls a second
    /// (open loop, a new buyer each) past its own rate limit: the noisy
    /// tenant. Its calls are reported apart; every other figure is the other
    /// shops' alone.
    #[arg(long)]
    pub flood_shop_rps: Option<f64>,
    /// The flood shop's own Route rate limit (route_rate_limit_per_second),
    /// calls per second.
    #[arg(long, default_value_t = 200, requires = "flood_shop_rps")]
    pub flood_shop_limit: u32,
    /// Report the CPU time this process spends over the measured window, and
    /// per call (Linux). Repeatable: `--cpu-of worker=PID --cpu-of redis=PID`.
    #[arg(long, value_name = "NAME=PID", value_parser = cpu::parse_watched)]
    pub cpu_of: Vec<cpu::Watched>,
    /// R26: run against a node of this process's own (not --addr) that records
    /// every shop's calls to this file, for `fenliu simulate`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

impl LoadtestArgs {
    /// Every flag with its value as given or defaulted, for the report to
    /// repeat; the token is only said to be set.
    pub fn flags(&self) -> Vec<(&'static str, String)> {
        fn or_none<T: ToString>(value: &Option<T>) -> String {
            value
                .as_ref()
                .map_or_else(|| "(not set)".to_owned(), T::to_string)
        }
        fn path(value: &Option<PathBuf>) -> String {
            or_none(&value.as_ref().map(|p| p.display().to_string()))
        }
        let cpu_of: Vec<String> = self
            .cpu_of
            .iter()
            .map(|watched| format!("{}={}", watched.name, watched.pid))
            .collect();
        vec![
            ("--addr", self.addr.clone()),
            (
                "--token",
                if self.caller.token.is_some() {
                    "(set)"
                } else {
                    "(not set)"
                }
                .to_owned(),
            ),
            ("--tls-ca", path(&self.caller.tls_ca)),
            ("--connections", self.connections.to_string()),
            ("--shops", self.shops.to_string()),
            ("--zipf-s", self.zipf_s.to_string()),
            ("--accounts", self.accounts.to_string()),
            ("--max-concurrent", self.max_concurrent.to_string()),
            (
                "--close-delay-seconds",
                self.close_delay_seconds.to_string(),
            ),
            ("--returning", self.returning.to_string()),
            (
                "--messages-per-session",
                self.messages_per_session.to_string(),
            ),
            ("--think-ms", self.think_ms.to_string()),
            ("--addressed", self.addressed.to_string()),
            ("--transfers", self.transfers.to_string()),
            ("--rps", or_none(&self.rps)),
            ("--concurrency", or_none(&self.concurrency)),
            ("--duration", self.duration.to_string()),
            ("--warmup", self.warmup.to_string()),
            ("--seed", self.seed.to_string()),
            ("--timeout-ms", self.timeout_ms.to_string()),
            ("--json", path(&self.json)),
            ("--html", path(&self.html)),
            ("--slo-p99-ms", or_none(&self.slo_p99_ms)),
            ("--flood-shop-rps", or_none(&self.flood_shop_rps)),
            ("--flood-shop-limit", self.flood_shop_limit.to_string()),
            (
                "--cpu-of",
                if cpu_of.is_empty() {
                    "(not set)".to_owned()
                } else {
                    cpu_of.join(" ")
                },
            ),
            ("--record", path(&self.record)),
        ]
    }

    /// Refuses values out of range, each with its flag named.
    pub fn check(&self) -> anyhow::Result<()> {
        fn share(name: &str, value: f64) -> anyhow::Result<()> {
            anyhow::ensure!(
                (0.0..=1.0).contains(&value),
                "{name}: must be between 0 and 1, got {value}"
            );
            Ok(())
        }
        anyhow::ensure!(
            self.addr.starts_with("http://") || self.addr.starts_with("https://"),
            "--addr: must be a URL such as http://127.0.0.1:50051, got {}",
            self.addr
        );
        anyhow::ensure!(
            (1..=1024).contains(&self.connections),
            "--connections: must be between 1 and 1024, got {}",
            self.connections
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.shops),
            "--shops: must be between 1 and 1000000, got {}",
            self.shops
        );
        anyhow::ensure!(
            self.zipf_s.is_finite() && (0.0..=10.0).contains(&self.zipf_s),
            "--zipf-s: must be between 0 and 10, got {}",
            self.zipf_s
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.accounts),
            "--accounts: must be between 1 and 10000, got {}",
            self.accounts
        );
        anyhow::ensure!(
            (1..=500).contains(&self.max_concurrent),
            "--max-concurrent: must be between 1 and 500, got {}",
            self.max_concurrent
        );
        anyhow::ensure!(
            self.close_delay_seconds <= 86_400,
            "--close-delay-seconds: at most 86400, got {}",
            self.close_delay_seconds
        );
        share("--returning", self.returning)?;
        share("--addressed", self.addressed)?;
        share("--transfers", self.transfers)?;
        anyhow::ensure!(
            self.messages_per_session >= 1,
            "--messages-per-session: at least 1"
        );
        if let Some(rps) = self.rps {
            anyhow::ensure!(
                rps.is_finite() && (0.1..=10_000_000.0).contains(&rps),
                "--rps: must be between 0.1 and 10000000, got {rps}"
            );
        }
        if let Some(rps) = self.flood_shop_rps {
            anyhow::ensure!(
                rps.is_finite() && (0.1..=1_000_000.0).contains(&rps),
                "--flood-shop-rps: must be between 0.1 and 1000000, got {rps}"
            );
            anyhow::ensure!(
                self.flood_shop_limit >= 1,
                "--flood-shop-limit: at least 1 (0 would mean the server's default)"
            );
        }
        if let Some(n) = self.concurrency {
            anyhow::ensure!(
                (1..=100_000).contains(&n),
                "--concurrency: must be between 1 and 100000, got {n}"
            );
        }
        anyhow::ensure!(
            self.duration.is_finite() && self.duration > 0.0 && self.duration <= 86_400.0,
            "--duration: must be more than 0 and at most 86400 seconds, got {}",
            self.duration
        );
        anyhow::ensure!(
            self.warmup.is_finite() && (0.0..=3_600.0).contains(&self.warmup),
            "--warmup: must be between 0 and 3600 seconds, got {}",
            self.warmup
        );
        anyhow::ensure!(
            (1..=600_000).contains(&self.timeout_ms),
            "--timeout-ms: must be between 1 and 600000, got {}",
            self.timeout_ms
        );
        if let Some(slo) = self.slo_p99_ms {
            anyhow::ensure!(
                slo.is_finite() && slo > 0.0,
                "--slo-p99-ms: must be more than 0, got {slo}"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// The command line as `fenliu loadtest` reads it.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        /// The flags under test.
        #[command(flatten)]
        args: LoadtestArgs,
    }

    #[test]
    fn the_flags_name_every_setting_and_keep_the_token_secret() {
        let cli = Cli::try_parse_from([
            "loadtest",
            "--token",
            "secret-token",
            "--rps",
            "250",
            "--cpu-of",
            "worker=42",
            "--html",
            "out.html",
        ])
        .unwrap();
        let flags = cli.args.flags();
        let value = |flag: &str| {
            flags
                .iter()
                .find(|(name, _)| *name == flag)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(value("--token"), Some("(set)"));
        assert!(flags.iter().all(|(_, value)| !value.contains("secret")));
        assert_eq!(value("--rps"), Some("250"));
        assert_eq!(value("--concurrency"), Some("(not set)"));
        assert_eq!(value("--cpu-of"), Some("worker=42"));
        assert_eq!(value("--html"), Some("out.html"));
        assert_eq!(value("--duration"), Some("10"));
        // Every long flag of the command is listed.
        let command = <Cli as clap::CommandFactory>::command();
        for argument in command.get_arguments() {
            if let Some(long) = argument.get_long() {
                let flag = format!("--{long}");
                assert!(
                    value(&flag).is_some(),
                    "{flag} is not in the report's settings"
                );
            }
        }
    }
}
