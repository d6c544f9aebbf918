//! The changed settings of `fenliu simulate`: `--set name=value` and the lines
//! of `--settings FILE`, named as `UpsertShop` names them, gathered into one
//! `UpsertShop` request whose settings the changed replay applies on top of
//! each recorded `UpsertShop`.

use std::path::Path;

use fenliu_proto::v1 as pb;

/// Reads `--settings FILE` (one `name=value` a line; blank lines and `#`
/// comments skipped) then each `--set`, later ones winning.
pub fn gather(file: Option<&Path>, sets: &[String]) -> anyhow::Result<pb::UpsertShopRequest> {
    let mut changes = pb::UpsertShopRequest::default();
    let mut lines = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("--settings {}: {e}", path.display()))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned),
        );
    }
    lines.extend(sets.iter().cloned());
    for line in lines {
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("{line:?}: expected name=value"))?;
        set(&mut changes, name.trim(), value.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", name.trim()))?;
    }
    Ok(changes)
}

fn seconds(value: &str) -> anyhow::Result<Option<u32>> {
    Ok(Some(value.parse()?))
}

fn flag(value: &str) -> anyhow::Result<Option<bool>> {
    Ok(Some(value.parse()?))
}

/// An enum value by its API name, with or without the type's prefix.
fn named(prefix: &str, value: &str, parse: fn(&str) -> Option<i32>) -> anyhow::Result<Option<i32>> {
    let upper = value.to_ascii_uppercase();
    let full = if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    };
    parse(&full)
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("unknown value {value:?}"))
}

fn set(changes: &mut pb::UpsertShopRequest, name: &str, value: &str) -> anyhow::Result<()> {
    match name {
        "routing_mode" => {
            changes.routing_mode = named("ROUTING_MODE_", value, |v| {
                pb::RoutingMode::from_str_name(v).map(|e| e as i32)
            })?;
        }
        "offline_policy" => {
            changes.offline_policy = named("OFFLINE_POLICY_", value, |v| {
                pb::OfflinePolicy::from_str_name(v).map(|e| e as i32)
            })?;
        }
        "distribution" => {
            changes.distribution = named("DISTRIBUTION_", value, |v| {
                pb::Distribution::from_str_name(v).map(|e| e as i32)
            })?;
        }
        "queue_timeout_action" => {
            changes.queue_timeout_action = named("QUEUE_TIMEOUT_ACTION_", value, |v| {
                pb::QueueTimeoutAction::from_str_name(v).map(|e| e as i32)
            })?;
        }
        "offline_list" => {
            changes.offline_list = Some(pb::AccountIdList {
                account_ids: value
                    .split(',')
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect(),
            });
        }
        "proxy_account_id" => changes.proxy_account_id = Some(value.to_owned()),
        "affinity_window_seconds" => changes.affinity_window_seconds = seconds(value)?,
        "close_delay_seconds" => changes.close_delay_seconds = seconds(value)?,
        "default_max_concurrent" => changes.default_max_concurrent = seconds(value)?,
        "presence_ttl_seconds" => changes.presence_ttl_seconds = seconds(value)?,
        "max_queue_wait_seconds" => changes.max_queue_wait_seconds = seconds(value)?,
        "reply_timeout_seconds" => changes.reply_timeout_seconds = seconds(value)?,
        "max_reassignments" => changes.max_reassignments = seconds(value)?,
        "priority_aging_seconds" => changes.priority_aging_seconds = seconds(value)?,
        "bot_enabled" => changes.bot_enabled = flag(value)?,
        "offline_forwarding" => changes.offline_forwarding = flag(value)?,
        "reassign_unanswered" => changes.reassign_unanswered = flag(value)?,
        _ => anyhow::bail!("no such setting (the names are UpsertShop's)"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_by_their_api_names_later_ones_winning() {
        let sets = [
            "max_queue_wait_seconds=600".to_owned(),
            "queue_timeout_action=least_loaded".to_owned(),
            "reassign_unanswered=true".to_owned(),
            "max_queue_wait_seconds=300".to_owned(),
        ];
        let changes = gather(None, &sets).unwrap();
        assert_eq!(changes.max_queue_wait_seconds, Some(300));
        assert_eq!(
            changes.queue_timeout_action,
            Some(pb::QueueTimeoutAction::LeastLoaded as i32)
        );
        assert_eq!(changes.reassign_unanswered, Some(true));
        assert!(gather(None, &["no_such=1".to_owned()]).is_err());
        assert!(gather(None, &["distribution=SIDEWAYS".to_owned()]).is_err());
        assert!(gather(None, &["close_delay_seconds".to_owned()]).is_err());
    }
}
