//! Shop → shard → worker, the two-level map every node computes the same way.
//!
//! - A shop id maps to one of a fixed number of virtual shards by FNV-1a (64-bit)
//!   of its UTF-8 bytes, modulo the shard count. FNV-1a is written out here, with
//!   its published constants, because the mapping must never change between
//!   versions or differ between nodes (std's `DefaultHasher` promises neither).
//! - A shard maps to a live worker by rendezvous (highest random weight) hashing:
//!   each (shard, worker) pair gets a weight and the heaviest worker owns the
//!   shard. A worker joining takes only the shards it now outweighs everyone on;
//!   a worker leaving hands only its own shards to the next heaviest.

/// A virtual shard number, `0..shard_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u32);

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// SplitMix64's finaliser: spreads FNV's output, whose low bits are weak for
/// short, similar inputs such as "w1:17" and "w1:18".
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shard of a shop. `shard_count` must be the same on every node.
pub fn shard_of(shop_id: &str, shard_count: u32) -> ShardId {
    debug_assert!(shard_count > 0);
    let shard = mix(fnv1a64(shop_id.as_bytes())) % u64::from(shard_count.max(1));
    ShardId(u32::try_from(shard).expect("below a u32 shard count"))
}

/// The rendezvous weight of a worker for a shard.
fn weight(shard: ShardId, worker_id: &str) -> u64 {
    let mut key = Vec::with_capacity(worker_id.len() + 5);
    key.extend_from_slice(worker_id.as_bytes());
    key.push(b'/');
    key.extend_from_slice(&shard.0.to_le_bytes());
    mix(fnv1a64(&key))
}

/// The worker that owns `shard` among `workers` (ids), if any. Ties, which need
/// equal 64-bit weights, go to the smaller id so that every node agrees.
pub fn owner_of<'a>(shard: ShardId, workers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    workers.into_iter().max_by(|a, b| {
        weight(shard, a)
            .cmp(&weight(shard, b))
            .then_with(|| b.cmp(a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shard_of_is_stable_across_versions() {
        // These values are part of the wire contract between nodes: if this test
        // fails, the change would move every shop to another shard on upgrade.
        let pinned: Vec<u32> = ["shop-1", "shop-2", "taobao:12345", "快手小店"]
            .iter()
            .map(|shop| shard_of(shop, 1024).0)
            .collect();
        assert_eq!(pinned, PINNED_SHARDS);
    }

    const PINNED_SHARDS: [u32; 4] = [1010, 822, 348, 276];

    #[test]
    fn shards_spread_shops_evenly() {
        let shard_count = 64;
        let mut counts = vec![0u32; shard_count as usize];
        for n in 0..64_000 {
            counts[shard_of(&format!("shop-{n}"), shard_count).0 as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 850 && *max < 1150, "min {min} max {max}");
    }

    #[test]
    fn rendezvous_moves_only_the_joining_workers_share() {
        let shard_count = 1024;
        let before = ["worker-a", "worker-b", "worker-c"];
        let after = ["worker-a", "worker-b", "worker-c", "worker-d"];
        let mut moved = 0;
        for shard in (0..shard_count).map(ShardId) {
            let old = owner_of(shard, before).unwrap();
            let new = owner_of(shard, after).unwrap();
            if old != new {
                assert_eq!(new, "worker-d", "a shard moved between two old workers");
                moved += 1;
            }
        }
        // Ideal: 1024 / 4 = 256.
        assert!((200..=312).contains(&moved), "moved {moved}");
    }

    #[test]
    fn rendezvous_leaving_worker_hands_over_only_its_own_shards() {
        let all = ["worker-a", "worker-b", "worker-c"];
        let remaining = ["worker-a", "worker-c"];
        for shard in (0..1024).map(ShardId) {
            let old = owner_of(shard, all).unwrap();
            let new = owner_of(shard, remaining).unwrap();
            if old != "worker-b" {
                assert_eq!(old, new);
            }
        }
        assert_eq!(owner_of(ShardId(3), []), None);
    }

    #[test]
    fn rendezvous_does_not_depend_on_the_order_workers_are_listed() {
        for shard in (0..256).map(ShardId) {
            assert_eq!(
                owner_of(shard, ["x", "y", "z"]),
                owner_of(shard, ["z", "x", "y"])
            );
        }
    }
}
