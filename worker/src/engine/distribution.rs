//! R9, even distribution: which of several candidate accounts gets a session.
//!
//! - `LEAST_LOADED` (default): fewest occupied slots, ties to whoever was assigned
//!   least recently, then by account id so the pick is deterministic.
//! - `ROUND_ROBIN`: whoever was assigned least recently, whatever the load.
//! - `RANDOM`: uniformly, from a seed the caller derives from the request, so the
//!   engine stays free of I/O and replayable.

use super::model::Account;
use super::settings::Distribution;

/// Picks one account among `candidates`; `None` when there are none.
pub fn pick_even<'a>(
    distribution: Distribution,
    candidates: impl IntoIterator<Item = &'a Account>,
    seed: u64,
) -> Option<&'a Account> {
    let candidates = candidates.into_iter();
    match distribution {
        Distribution::LeastLoaded => candidates.min_by(|a, b| {
            (a.occupancy(), a.last_assigned_seq, &a.id).cmp(&(
                b.occupancy(),
                b.last_assigned_seq,
                &b.id,
            ))
        }),
        Distribution::RoundRobin => candidates
            .min_by(|a, b| (a.last_assigned_seq, &a.id).cmp(&(b.last_assigned_seq, &b.id))),
        Distribution::Random => {
            let all: Vec<&Account> = candidates.collect();
            if all.is_empty() {
                return None;
            }
            let index = usize::try_from(splitmix64(seed) % all.len() as u64).unwrap_or(0);
            Some(all[index])
        }
    }
}

/// A well-mixed 64-bit hash of a 64-bit seed (SplitMix64's finaliser).
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{AccountStatus, test_account};

    fn account(id: &str, occupancy: u32, last_assigned_seq: u64) -> Account {
        Account {
            last_assigned_seq,
            ..test_account(id, AccountStatus::Online, occupancy)
        }
    }

    #[test]
    fn r09_least_loaded_prefers_fewest_occupied_slots() {
        let accounts = [account("a", 3, 1), account("b", 1, 9), account("c", 2, 0)];
        let picked = pick_even(Distribution::LeastLoaded, &accounts, 0).unwrap();
        assert_eq!(picked.id.as_str(), "b");
    }

    #[test]
    fn r09_least_loaded_ties_go_to_least_recently_assigned() {
        let accounts = [account("a", 1, 7), account("b", 1, 3), account("c", 1, 5)];
        let picked = pick_even(Distribution::LeastLoaded, &accounts, 0).unwrap();
        assert_eq!(picked.id.as_str(), "b");
    }

    #[test]
    fn r09_round_robin_ignores_load() {
        let accounts = [account("a", 0, 7), account("b", 9, 2)];
        let picked = pick_even(Distribution::RoundRobin, &accounts, 0).unwrap();
        assert_eq!(picked.id.as_str(), "b");
    }

    #[test]
    fn r09_random_reaches_every_candidate_and_only_candidates() {
        let accounts = [account("a", 0, 0), account("b", 0, 0), account("c", 0, 0)];
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let picked = pick_even(Distribution::Random, &accounts, seed).unwrap();
            seen.insert(picked.id.as_str().to_owned());
        }
        assert_eq!(seen.len(), 3);
        assert!(pick_even(Distribution::Random, &[], 1).is_none());
    }
}
