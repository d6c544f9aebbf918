//! This process' one recorder (`metrics-exporter-prometheus`), installed once
//! whatever its roles (`fenliu dev` runs two), and handles registered with it
//! once it is: a handle taken before would be the facade's no-op one for good.

use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::names;

/// The process' recorder, once installed.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
/// Held while installing, so that two roles (or tests) starting at once
/// install one recorder.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Which kind of node records: the `role` label of the call metrics, and which
/// families a node emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Worker,
    Dispatcher,
}

impl Role {
    /// The `role` label value.
    pub fn label(self) -> &'static str {
        match self {
            Role::Worker => names::ROLES[0],
            Role::Dispatcher => names::ROLES[1],
        }
    }
}

/// Installs this process' recorder (once; later calls return the same handle),
/// with every histogram's buckets and every family's help line.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let _installing = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = RECORDER.get() {
        return Ok(handle.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in names::HISTOGRAM_BUCKETS {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            .context("histogram buckets")?;
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is installed in this process"))?;
    let handle = RECORDER.get_or_init(|| handle).clone();
    for (name, kind, help) in names::FAMILIES {
        match kind {
            names::Kind::Counter => metrics::describe_counter!(*name, *help),
            names::Kind::Gauge => metrics::describe_gauge!(*name, *help),
            names::Kind::Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
    Ok(handle)
}

/// Whether this process keeps metrics: work done only to be measured (a
/// decision's load spread) is skipped when it does not.
pub fn enabled() -> bool {
    RECORDER.get().is_some()
}

/// Handles registered on first use once this process keeps metrics; `None`
/// before (and in processes that keep none), so that a handle is never taken
/// from the no-op recorder and kept.
#[derive(Debug)]
pub struct Handles<T> {
    /// The handles, once registered.
    cell: OnceLock<T>,
    /// Registers them.
    register: fn() -> T,
}

impl<T> Handles<T> {
    pub const fn new(register: fn() -> T) -> Self {
        Handles {
            cell: OnceLock::new(),
            register,
        }
    }

    /// The handles, or `None` when this process keeps no metrics.
    pub fn get(&self) -> Option<&T> {
        if !enabled() {
            return None;
        }
        Some(self.cell.get_or_init(self.register))
    }
}
