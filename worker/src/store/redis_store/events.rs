//! A shop's stored events: the capped Redis stream `COMMIT` appends each
//! commit's events to (entry id `<sequence>-0`, one field `e` holding the
//! event as a `fenliu.v1.ShopEvent`), read back by `WatchShop` to replay what a
//! watcher missed.
//!
//! The store does not know what an event says: the router numbers and encodes
//! them, so that the sequence is the shop's across owners and the bytes are the
//! public wire form any version reads.

use fenliu_node::redis_connection::RedisConnection;
use redis::Value;

use crate::store::error::StoreError;
use crate::store::keys::ShopKeys;

/// One event as stored: its number in the shop's sequence and its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Rises by one per event of the shop, whichever worker decided it.
    pub sequence: u64,
    /// A `fenliu.v1.ShopEvent`, its `sequence` field set.
    pub bytes: Vec<u8>,
}

/// The sequence an entry id `<sequence>-0` stands for (`0-0`: no event yet).
pub(super) fn sequence_of(entry_id: &str) -> Result<u64, StoreError> {
    entry_id
        .split_once('-')
        .and_then(|(sequence, _)| sequence.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("event entry id {entry_id:?}")))
}

/// The entry id of the event numbered `sequence`.
pub(super) fn entry_id(sequence: u64) -> String {
    format!("{sequence}-0")
}

/// The stored events numbered after `after` and up to `until`, oldest first, at
/// most `limit` of them. Entries trimmed from the stream are simply absent: the
/// caller compares the first sequence returned with `after + 1`. Bounded by
/// `until` because an entry past the last acknowledged event may belong to a
/// commit whose `WAIT` for replicas is still to fail.
pub(super) async fn read_after(
    mut connection: RedisConnection,
    keys: &ShopKeys,
    after: u64,
    until: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(keys.events())
        .arg(entry_id(after.saturating_add(1)))
        .arg(entry_id(until))
        .arg("COUNT")
        .arg(limit)
        .query_async(&mut connection)
        .await?;
    let Value::Array(entries) = reply else {
        return Err(StoreError::Corrupt(format!("XRANGE reply {reply:?}")));
    };
    entries.into_iter().map(stored_event).collect()
}

/// One XRANGE entry: `[id, [field, value, ...]]`.
fn stored_event(entry: Value) -> Result<StoredEvent, StoreError> {
    let corrupt = |what: &Value| StoreError::Corrupt(format!("event entry {what:?}"));
    let Value::Array(parts) = &entry else {
        return Err(corrupt(&entry));
    };
    let (Some(Value::BulkString(id)), Some(Value::Array(fields))) = (parts.first(), parts.get(1))
    else {
        return Err(corrupt(&entry));
    };
    let sequence = sequence_of(&String::from_utf8_lossy(id))?;
    let bytes = match fields.as_slice() {
        [Value::BulkString(field), Value::BulkString(bytes)] if field == b"e" => bytes.clone(),
        _ => return Err(corrupt(&entry)),
    };
    Ok(StoredEvent { sequence, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_id_reads_back_as_its_sequence() {
        assert_eq!(sequence_of(&entry_id(42)).unwrap(), 42);
        assert_eq!(sequence_of("0-0").unwrap(), 0);
        assert!(sequence_of("x-0").is_err());
        assert!(sequence_of("17").is_err());
    }

    #[test]
    fn an_entry_is_its_id_and_its_one_field() {
        let entry = Value::Array(vec![
            Value::BulkString(b"7-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"e".to_vec()),
                Value::BulkString(vec![1, 2]),
            ]),
        ]);
        assert_eq!(
            stored_event(entry).unwrap(),
            StoredEvent {
                sequence: 7,
                bytes: vec![1, 2]
            }
        );
        let other_field = Value::Array(vec![
            Value::BulkString(b"7-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"x".to_vec()),
                Value::BulkString(vec![1]),
            ]),
        ]);
        assert!(stored_event(other_field).is_err());
    }
}
