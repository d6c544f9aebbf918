//! R26's recordings: chosen shops' calls, one JSON object a line, in the order
//! and at the time (the engine's) each was decided, so that `fenliu simulate`
//! can replay them through the engine in virtual time. Format version 1:
//!
//! `{"v":1,"at_ms":…,"shop":"…","method":"Route","request":"<base64 protobuf>","decision":{…}}`
//!
//! `request` is the call's `fenliu.v1` request message, protobuf-encoded then
//! base64 (standard alphabet): the exact request, whatever fields later
//! versions of the API add. `decision` is set for `Route` only: what was
//! decided, as the API names it. Only calls that succeeded are recorded (a
//! refused call changes nothing).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fenliu_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::engine::{RouteOutcome, ShopId, Timestamp};

/// The format version written, and the only one read.
pub const FORMAT_VERSION: u32 = 1;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// The format version ([`FORMAT_VERSION`]), so that a reader refuses what
    /// it does not know rather than misreading it.
    pub v: u32,
    /// The engine's time of the call, ms since the epoch: replays run at it.
    pub at_ms: u64,
    /// The shop called (also in the request; here to filter without decoding).
    pub shop: String,
    /// The `Routing` method, as the API names it (`Route`, `EndSession`, …).
    pub method: String,
    /// The request message, protobuf then base64.
    pub request: String,
    /// For `Route`: what was decided, to compare a replay with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RecordedDecision>,
}

/// A `Route` decision as recorded, in the API's names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// The session decided on (ids are the shop's own sequence, so a replay
    /// numbers them alike).
    pub session: u64,
    /// The `RouteReason` name without its prefix (`EVEN`, `QUEUED`, …).
    pub reason: String,
    /// The account it went to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The queue it waits in, if it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl RecordedDecision {
    /// `outcome`, decided for `reason` (its reason as the API names it).
    pub fn of(outcome: &RouteOutcome, reason: pb::RouteReason) -> RecordedDecision {
        let reason = reason.as_str_name();
        RecordedDecision {
            session: outcome.session.id.0,
            reason: reason.trim_start_matches("ROUTE_REASON_").to_owned(),
            account: outcome.session.account.as_ref().map(|a| a.0.clone()),
            queue: outcome.session.queue.map(|q| q.to_string()),
        }
    }
}

impl RecordedCall {
    pub fn new(
        shop: &ShopId,
        method: &str,
        at: Timestamp,
        request: &impl prost::Message,
        decision: Option<RecordedDecision>,
    ) -> RecordedCall {
        RecordedCall {
            v: FORMAT_VERSION,
            at_ms: at.as_millis(),
            shop: shop.as_str().to_owned(),
            method: method.to_owned(),
            request: STANDARD.encode(request.encode_to_vec()),
            decision,
        }
    }

    /// The request message, decoded as `M`.
    pub fn decode<M: prost::Message + Default>(&self) -> anyhow::Result<M> {
        let bytes = STANDARD.decode(&self.request)?;
        Ok(M::decode(bytes.as_slice())?)
    }

    /// The recorded `UpsertShop` request, when this is one.
    pub fn upsert_shop(&self) -> Option<pb::UpsertShopRequest> {
        (self.method == "UpsertShop")
            .then(|| self.decode().ok())
            .flatten()
    }
}

/// Reads a recording, refusing a line of another format version.
pub fn read(path: &Path) -> anyhow::Result<Vec<RecordedCall>> {
    let file = File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut calls = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let call: RecordedCall = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), index + 1))?;
        anyhow::ensure!(
            call.v == FORMAT_VERSION,
            "{}:{}: format version {} (this fenliu reads {FORMAT_VERSION})",
            path.display(),
            index + 1,
            call.v
        );
        calls.push(call);
    }
    Ok(calls)
}

/// Writes the calls of chosen shops to a file, a line each, as they are
/// decided (each line flushed: a worker killed mid-run leaves whole lines).
#[derive(Debug)]
pub struct Recorder {
    /// The shops recorded; empty: every shop.
    shops: HashSet<String>,
    /// The open recording.
    out: Mutex<BufWriter<File>>,
}

impl Recorder {
    /// Records `shops` (empty: all) to `path`, created or truncated.
    pub fn create(path: &Path, shops: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let file = File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Recorder {
            shops: shops.into_iter().collect(),
            out: Mutex::new(BufWriter::new(file)),
        })
    }

    pub fn records(&self, shop: &ShopId) -> bool {
        self.shops.is_empty() || self.shops.contains(shop.as_str())
    }

    /// Appends `call`; a failed write is logged, never fails the call.
    pub fn write(&self, call: &RecordedCall) {
        let Ok(line) = serde_json::to_string(call) else {
            return;
        };
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::warn!(%error, "could not write the recording");
        }
    }
}

/// The worker's options to record chosen shops' calls (R26).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RecordOptions {
    /// Record these shops' calls (comma-separated ids; `*`: every shop) to
    /// --record-file, for `fenliu simulate`.
    #[arg(long, env = "FENLIU_RECORD_SHOPS", value_delimiter = ',')]
    pub record_shops: Vec<String>,
    /// The recording (created or truncated at start), one JSON object a line.
    #[arg(long, env = "FENLIU_RECORD_FILE")]
    pub record_file: Option<PathBuf>,
}

impl RecordOptions {
    /// The recorder the options ask for, if any; both flags or neither.
    pub fn recorder(&self) -> anyhow::Result<Option<Arc<Recorder>>> {
        match (&self.record_file, self.record_shops.is_empty()) {
            (None, true) => Ok(None),
            (Some(path), false) => {
                let every_shop = self.record_shops.iter().any(|shop| shop == "*");
                let shops = if every_shop {
                    Vec::new()
                } else {
                    self.record_shops.clone()
                };
                Ok(Some(Arc::new(Recorder::create(path, shops)?)))
            }
            (None, false) => anyhow::bail!(
                "--record-shops (FENLIU_RECORD_SHOPS) needs --record-file (FENLIU_RECORD_FILE)"
            ),
            (Some(_), true) => anyhow::bail!(
                "--record-file (FENLIU_RECORD_FILE) needs --record-shops (FENLIU_RECORD_SHOPS)"
            ),
        }
    }
}
