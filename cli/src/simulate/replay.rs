//! A recording replayed through the pure engine in virtual time: each call at
//! its recorded time, converted as the worker converts it, the engine acting
//! by itself between calls on what falls due (R15, R21, R22). Under changed
//! settings, the changes are applied on top of each recorded `UpsertShop`.

use std::collections::BTreeMap;

use fenliu_proto::v1 as pb;
use fenliu_worker::engine::{
    AccountId, EngineError, SessionId, SettingsPatch, ShopState, TimedEvent, Timestamp,
};
use fenliu_worker::grpc::{checks, enum_codes};
use fenliu_worker::recording::{RecordedCall, RecordedDecision};

use super::figures::Figures;

/// A `Route` decision of a replay, next to what identifies its call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The call's place in the recording.
    pub index: usize,
    pub shop: String,
    pub at_ms: u64,
    pub buyer: String,
    pub decision: RecordedDecision,
}

/// One replay of a recording.
#[derive(Debug, Default)]
pub struct Replay {
    /// The shops as the replay has them.
    shops: BTreeMap<String, ShopState>,
    /// The changed settings applied on top of each `UpsertShop`; `None`: the
    /// recorded settings.
    changes: Option<SettingsPatch>,
    /// Every `Route` decision, in recording order.
    pub decided: Vec<Decided>,
    /// Calls the recorded run took that this replay refused (a changed
    /// setting may leave, say, nothing to end), with why.
    pub refused: Vec<(usize, String)>,
    /// What the shop's events and states add up to.
    pub figures: Figures,
}

/// Why a call could not be replayed at all.
type Refusal = String;

fn refusal(error: impl std::fmt::Display) -> Refusal {
    error.to_string()
}

impl Replay {
    /// Replays `calls` under the recorded settings, or with `changes` on top.
    pub fn run(calls: &[RecordedCall], changes: Option<SettingsPatch>) -> Replay {
        let mut replay = Replay {
            changes,
            ..Replay::default()
        };
        for (index, call) in calls.iter().enumerate() {
            if let Err(why) = replay.apply(index, call) {
                replay.refused.push((index, why));
            }
        }
        let end = calls
            .last()
            .map_or(Timestamp(0), |call| Timestamp(call.at_ms));
        for state in replay.shops.values_mut() {
            state.advance_to(end);
            let events = state.take_events();
            replay.figures.count_events(state, &events);
            replay.figures.count_shop(state);
        }
        replay
    }

    fn apply(&mut self, index: usize, call: &RecordedCall) -> Result<(), Refusal> {
        let now = Timestamp(call.at_ms);
        if call.method == "UpsertShop" {
            return self.upsert_shop(call, now);
        }
        let state = self
            .shops
            .get_mut(&call.shop)
            .ok_or_else(|| format!("shop {} called before the recording created it", call.shop))?;
        // What fell due before the call happens first, at its own time.
        state.advance_to(now);
        let events = state.take_events();
        self.figures.count_events(state, &events);
        let decided = apply_call(state, call, now);
        let events: Vec<TimedEvent> = state.take_events();
        self.figures.count_events(state, &events);
        if let Some((buyer, decision)) = decided? {
            self.figures.count_decision(&decision);
            self.decided.push(Decided {
                index,
                shop: call.shop.clone(),
                at_ms: call.at_ms,
                buyer,
                decision,
            });
        }
        Ok(())
    }

    fn upsert_shop(&mut self, call: &RecordedCall, now: Timestamp) -> Result<(), Refusal> {
        let request: pb::UpsertShopRequest = call.decode().map_err(refusal)?;
        let patch = checks::settings_patch(&request).map_err(refusal)?;
        let state = match self.shops.entry(call.shop.clone()) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let shop = checks::shop_id(&request.shop_id).map_err(refusal)?;
                let profile = enum_codes::profile(request.profile).map_err(refusal)?;
                let main = checks::account_id("main_account_id", &request.main_account_id)
                    .map_err(refusal)?;
                entry.insert(ShopState::new(shop, profile, main, now))
            }
        };
        state.update_settings(&patch, now).map_err(refusal)?;
        if let Some(changes) = &self.changes {
            state.update_settings(changes, now).map_err(refusal)?;
        }
        let events = state.take_events();
        self.figures.count_events(state, &events);
        Ok(())
    }
}

/// Applies one recorded call other than `UpsertShop`; for a `Route`, the buyer
/// and what was decided.
fn apply_call(
    state: &mut ShopState,
    call: &RecordedCall,
    now: Timestamp,
) -> Result<Option<(String, RecordedDecision)>, Refusal> {
    let engine = |error: EngineError| error.to_string();
    match call.method.as_str() {
        "Route" => {
            let request: pb::RouteRequest = call.decode().map_err(refusal)?;
            let (route, mut options) = checks::route_call(&request).map_err(refusal)?;
            // R24 changes no decision; the replay spares itself the candidates.
            options.explain = false;
            let outcome = state.route_with(&route, options, now).map_err(engine)?;
            let reason = enum_codes::wire_reason(outcome.reason);
            let decision = RecordedDecision::of(&outcome, reason);
            return Ok(Some((request.buyer_id, decision)));
        }
        "UpsertAccount" => {
            let request: pb::UpsertAccountRequest = call.decode().map_err(refusal)?;
            let upsert = checks::account_upsert(&request).map_err(refusal)?;
            state.upsert_account(upsert, now).map_err(engine)?;
        }
        "RemoveAccount" => {
            let request: pb::RemoveAccountRequest = call.decode().map_err(refusal)?;
            state
                .remove_account(&AccountId::from(request.account_id.as_str()), now)
                .map_err(engine)?;
        }
        "UpsertGroup" => {
            let request: pb::UpsertGroupRequest = call.decode().map_err(refusal)?;
            let upsert = checks::group_upsert(&request).map_err(refusal)?;
            state.upsert_group(upsert, now).map_err(engine)?;
        }
        "RemoveGroup" => {
            let request: pb::RemoveGroupRequest = call.decode().map_err(refusal)?;
            let name = fenliu_worker::engine::GroupName(request.name);
            state.remove_group(&name, now).map_err(engine)?;
        }
        "SetAccountStatus" => {
            let request: pb::SetAccountStatusRequest = call.decode().map_err(refusal)?;
            let status = enum_codes::account_status(request.status).map_err(refusal)?;
            let account = AccountId::from(request.account_id.as_str());
            state
                .set_account_status(&account, status, now)
                .map_err(engine)?;
        }
        "Heartbeat" => {
            let request: pb::HeartbeatRequest = call.decode().map_err(refusal)?;
            let accounts: Vec<AccountId> = request
                .account_ids
                .iter()
                .map(|id| AccountId::from(id.as_str()))
                .collect();
            state.heartbeat(&accounts, now).map_err(engine)?;
        }
        "EndSession" => {
            let request: pb::EndSessionRequest = call.decode().map_err(refusal)?;
            let actor = checks::optional_account_id("actor_account_id", &request.actor_account_id)
                .map_err(refusal)?;
            state
                .end_session(SessionId(request.session_id), actor.as_ref(), now)
                .map_err(engine)?;
        }
        "Transfer" => {
            let request: pb::TransferRequest = call.decode().map_err(refusal)?;
            let actor = AccountId::from(request.actor_account_id.as_str());
            let to = AccountId::from(request.to_account_id.as_str());
            state
                .transfer(SessionId(request.session_id), &actor, &to, now)
                .map_err(engine)?;
        }
        "PullQueued" => {
            let request: pb::PullQueuedRequest = call.decode().map_err(refusal)?;
            let queue = checks::queue_name(&request.queue).map_err(refusal)?;
            let account = AccountId::from(request.account_id.as_str());
            state.pull_queued(&account, queue, now).map_err(engine)?;
        }
        "RecordReply" => {
            let request: pb::RecordReplyRequest = call.decode().map_err(refusal)?;
            let account = AccountId::from(request.account_id.as_str());
            state
                .record_reply(SessionId(request.session_id), &account, now)
                .map_err(engine)?;
        }
        other => return Err(format!("{other}: not a call that changes a shop")),
    }
    Ok(None)
}
