//! Loading a shop: the `LOAD` script (the fence raised, the entities read), one
//! pipeline for what the TTL keys have left, and the snapshot the engine restores.

use fenliu_node::redis_connection::RedisConnection;
use fenliu_node::versions::Window;
use redis::Value;

use super::events;
use super::scripts::LOAD;
use crate::engine::{BuyerId, SessionId, SessionState, ShopId, ShopSnapshot, ShopState, Timestamp};
use crate::store::error::StoreError;
use crate::store::keys::{COUNTERS_FIELD, ShopKeys};
use crate::store::records::{self, decode};

/// A shop as loaded: its state, and where its events' numbering stands.
#[derive(Debug)]
pub struct StoredShop {
    /// The shop restored at the time of the load.
    pub state: ShopState,
    /// The sequence of the shop's last stored event (0: none yet), which its
    /// next event follows whichever worker decides it.
    pub last_event_sequence: u64,
}

/// `LOAD` on the keys of shop `shop_id` with `token`, then the TTL pipeline, then
/// the shop restored at `now` with the record format it was stored in
/// (`Ok(None)`: there is no such shop). A format outside `formats` is refused
/// before anything else of the shop is decoded.
pub(super) async fn load_shop(
    mut connection: RedisConnection,
    keys: &ShopKeys,
    shop_id: &ShopId,
    token: u64,
    now: Timestamp,
    formats: Window,
) -> Result<Option<(StoredShop, u32)>, StoreError> {
    type Loaded = (
        String,
        Option<Vec<u8>>,
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        Vec<Vec<u8>>,
        Vec<String>,
        String,
        String,
    );
    let (status, shop, accounts, groups, sessions, buyers, fence, last_event): Loaded = LOAD
        .key(keys.fence())
        .key(keys.shop())
        .key(keys.accounts())
        .key(keys.groups())
        .key(keys.sessions())
        .key(keys.affinity_index())
        .key(keys.events())
        .arg(token)
        .invoke_async(&mut connection)
        .await?;
    match status.as_str() {
        "ok" => {}
        "missing" => return Ok(None),
        _ => {
            return Err(StoreError::fenced(
                shop_id.0.clone(),
                fence.parse().unwrap_or(u64::MAX),
                token,
            ));
        }
    }
    let shop: records::ShopRecord = decode("shop", &shop.unwrap_or_default())?;
    let format = records::stored_format(&shop, formats)?;
    let account_records: Vec<records::AccountRecord> = hash_values("account", &accounts)?;
    let group_records: Vec<records::GroupRecord> = hash_values("group", &groups)?;
    // The sessions hash also holds the shop's counters (see `keys`).
    let mut counters_record = None;
    let mut session_records = Vec::with_capacity(sessions.len() / 2);
    for pair in sessions.chunks_exact(2) {
        if pair[0] == COUNTERS_FIELD.as_bytes() {
            counters_record = Some(decode::<records::CountersRecord>("counters", &pair[1])?);
        } else {
            session_records.push(decode::<records::SessionRecord>("session", &pair[1])?);
        }
    }
    // A shop stored before the counters moved out of its record has none here:
    // pre-1.0, no such data is kept anywhere, so it is refused, not migrated.
    let counters_record =
        counters_record.ok_or_else(|| StoreError::Corrupt("shop without counters".to_owned()))?;
    let counters = records::counters_from(&counters_record);
    let session_list = session_records
        .iter()
        .map(records::session_from)
        .collect::<Result<Vec<_>, _>>()?;

    // The TTL keys: what is left of each presence, close delay and affinity.
    let mut pipeline = redis::pipe();
    for account in &account_records {
        pipeline.cmd("PTTL").arg(keys.presence(&account.id));
    }
    let ended: Vec<SessionId> = session_list
        .iter()
        .filter(|s| s.state == SessionState::Ended)
        .map(|s| s.id)
        .collect();
    for session in &ended {
        pipeline.cmd("PTTL").arg(keys.ending(session.0));
    }
    for buyer in &buyers {
        pipeline.cmd("GET").arg(keys.affinity(buyer));
        pipeline.cmd("PTTL").arg(keys.affinity(buyer));
    }
    let ttls: Vec<Value> = if account_records.is_empty() && ended.is_empty() && buyers.is_empty() {
        Vec::new()
    } else {
        pipeline.query_async(&mut connection).await?
    };
    // The replies come in the order the pipeline asked: presences, close
    // delays, then (value, TTL) per affinity.
    let mut replies = ttls.into_iter();

    let mut account_list = Vec::with_capacity(account_records.len());
    for record in &account_records {
        // No key: the presence ran out meanwhile (restore expires it at once).
        let expires = remaining_ms(replies.next()).map(|ms| Timestamp(now.as_millis() + ms));
        account_list.push(records::account_from(record, expires)?);
    }
    let mut session_list = session_list;
    // The close-delay replies come in the order `ended` was listed.
    let ended_sessions = session_list
        .iter_mut()
        .filter(|s| s.state == SessionState::Ended);
    for session in ended_sessions {
        // Gone: the close delay ran out while nobody owned the shop; it closes
        // at the next advance.
        let remaining = remaining_ms(replies.next()).unwrap_or(0);
        session.closes_at = Some(Timestamp(now.as_millis() + remaining));
    }
    let mut affinities = Vec::new();
    for buyer in &buyers {
        let account = match replies.next() {
            Some(Value::BulkString(bytes)) => String::from_utf8(bytes).ok(),
            _ => None,
        };
        let remaining = remaining_ms(replies.next());
        if let (Some(account), Some(remaining)) = (account, remaining) {
            affinities.push((
                BuyerId(buyer.clone()),
                records::affinity_from(account, remaining, now),
            ));
        }
    }
    let settings = records::settings_from(
        shop.settings
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("shop without settings".to_owned()))?,
    )?;
    let snapshot = ShopSnapshot {
        shop_id: shop_id.clone(),
        profile: records::profile_from(shop.profile)?,
        main_account: crate::engine::AccountId(shop.main_account.clone()),
        settings,
        counters,
        accounts: account_list,
        groups: group_records
            .iter()
            .map(records::group_from)
            .collect::<Result<_, _>>()?,
        sessions: session_list,
        affinities,
        estimate_accuracy: records::accuracy_from(&counters_record),
    };
    Ok(Some((
        StoredShop {
            state: ShopState::restore(snapshot, now),
            last_event_sequence: events::sequence_of(&last_event)?,
        },
        format,
    )))
}

/// Decodes HGETALL's flat [field, value, field, value, ...] into the values.
fn hash_values<M: prost::Message + Default>(
    what: &str,
    flat: &[Vec<u8>],
) -> Result<Vec<M>, StoreError> {
    flat.chunks(2)
        .filter_map(|pair| pair.get(1))
        .map(|bytes| decode(what, bytes))
        .collect()
}

/// A PTTL reply: remaining milliseconds, or `None` when the key is gone.
fn remaining_ms(reply: Option<Value>) -> Option<u64> {
    match reply {
        Some(Value::Int(ms)) if ms > 0 => u64::try_from(ms).ok(),
        _ => None,
    }
}
