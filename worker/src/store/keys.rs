//! The Redis key layout. Every key of a shop carries `{shop_id}` as its hash tag,
//! so that a shop lives in one Redis Cluster slot and each script touches one slot.
//! Keys start with a namespace (`fenliu` unless configured), so that several
//! deployments can share one Redis.
//!
//! `S` below is the shop id with `%` and `}` percent-encoded (`%25`, `%7D`; other
//! ids are written as they are). Ids may hold any character, and the `}` of an id
//! written as it is would end the shop's part of the key early: the keys of shop
//! `s}:request:r1` would be keys of shop `s` (its request `r1}:shop` would be the
//! other shop's record). Encoded, no key of one shop is a key of another. Within a
//! shop the ids written after `presence:`, `affinity:` and `request:` need no
//! encoding: each kind of key has a prefix of its own, and the id runs to the end.
//!
//! | key | type | what | expires |
//! |---|---|---|---|
//! | `fenliu:{S}:fence` | string | highest fencing token that touched the shop; set when the shop is created, so it exists exactly while the shop does | never |
//! | `fenliu:{S}:shop` | string | `ShopRecord`: settings, profile, main account | never |
//! | `fenliu:{S}:accounts` | hash | account id → `AccountRecord` | never |
//! | `fenliu:{S}:presence:{account}` | string | the account is logged in | presence TTL |
//! | `fenliu:{S}:groups` | hash | group name → `GroupRecord` | never |
//! | `fenliu:{S}:sessions` | hash | session id → `SessionRecord` (open and ended); and [`COUNTERS_FIELD`] → `CountersRecord` | a session's field is deleted on close |
//! | `fenliu:{S}:ending:{session}` | string | an ended session still holds its slot | close delay |
//! | `fenliu:{S}:affinity:{buyer}` | string | the buyer's last account | affinity window |
//! | `fenliu:{S}:affinities` | set | buyers that may have an affinity key (index) | pruned |
//! | `fenliu:{S}:request:{request_id}` | string | `RouteRecord` of a Route | 1 hour |
//!
//! The shop's counters sit in the sessions hash because they move with the
//! sessions (a new session takes the next id, an assignment or a queue entry the
//! next sequence number): one `HSET` writes both.

use std::fmt;

/// The field of the sessions hash that holds the shop's counters. Session fields
/// are decimal numbers, so it never meets one.
pub const COUNTERS_FIELD: &str = "counters";

/// One key of a shop, named by [`ShopKeys::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    Fence,
    Shop,
    Accounts,
    Presence(&'a str),
    Groups,
    Sessions,
    Ending(u64),
    Affinity(&'a str),
    AffinityIndex,
    Request(&'a str),
}

/// The keys of one shop.
#[derive(Debug, Clone)]
pub struct ShopKeys {
    prefix: String,
}

/// A key's full name, written where it is displayed (into a command's buffer,
/// without a string of its own).
#[derive(Clone, Copy, Debug)]
pub struct KeyName<'k, 'a> {
    prefix: &'k str,
    key: Key<'a>,
}

impl fmt::Display for KeyName<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        match self.key {
            Key::Fence => f.write_str("fence"),
            Key::Shop => f.write_str("shop"),
            Key::Accounts => f.write_str("accounts"),
            Key::Presence(account) => write!(f, "presence:{account}"),
            Key::Groups => f.write_str("groups"),
            Key::Sessions => f.write_str("sessions"),
            Key::Ending(session) => write!(f, "ending:{session}"),
            Key::Affinity(buyer) => write!(f, "affinity:{buyer}"),
            Key::AffinityIndex => f.write_str("affinities"),
            Key::Request(request_id) => write!(f, "request:{request_id}"),
        }
    }
}

impl ShopKeys {
    pub fn new(namespace: &str, shop_id: &str) -> Self {
        ShopKeys {
            prefix: format!("{namespace}:{{{}}}:", in_hash_tag(shop_id)),
        }
    }

    pub fn name<'a>(&self, key: Key<'a>) -> KeyName<'_, 'a> {
        KeyName {
            prefix: &self.prefix,
            key,
        }
    }

    pub fn fence(&self) -> String {
        self.name(Key::Fence).to_string()
    }
    pub fn shop(&self) -> String {
        self.name(Key::Shop).to_string()
    }
    pub fn accounts(&self) -> String {
        self.name(Key::Accounts).to_string()
    }
    pub fn presence(&self, account: &str) -> String {
        self.name(Key::Presence(account)).to_string()
    }
    pub fn groups(&self) -> String {
        self.name(Key::Groups).to_string()
    }
    pub fn sessions(&self) -> String {
        self.name(Key::Sessions).to_string()
    }
    pub fn ending(&self, session: u64) -> String {
        self.name(Key::Ending(session)).to_string()
    }
    pub fn affinity(&self, buyer: &str) -> String {
        self.name(Key::Affinity(buyer)).to_string()
    }
    pub fn affinity_index(&self) -> String {
        self.name(Key::AffinityIndex).to_string()
    }
    pub fn request(&self, request_id: &str) -> String {
        self.name(Key::Request(request_id)).to_string()
    }
}

/// The shop id as it is written in its keys' hash tag: with `%` and `}` (which
/// would end the tag) percent-encoded, so that two ids are never written alike.
fn in_hash_tag(shop_id: &str) -> std::borrow::Cow<'_, str> {
    if !shop_id.contains(['%', '}']) {
        return shop_id.into();
    }
    shop_id.replace('%', "%25").replace('}', "%7D").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_shop_shares_its_hash_tag() {
        let keys = ShopKeys::new("fenliu", "shop-7");
        for key in [
            keys.fence(),
            keys.shop(),
            keys.accounts(),
            keys.presence("a"),
            keys.groups(),
            keys.sessions(),
            keys.ending(3),
            keys.affinity("b"),
            keys.affinity_index(),
            keys.request("r"),
        ] {
            assert!(key.starts_with("fenliu:{shop-7}:"), "{key}");
        }
    }

    #[test]
    fn keys_are_named_as_the_layout_says() {
        let keys = ShopKeys::new("ns", "s");
        assert_eq!(keys.fence(), "ns:{s}:fence");
        assert_eq!(keys.shop(), "ns:{s}:shop");
        assert_eq!(keys.presence("a1"), "ns:{s}:presence:a1");
        assert_eq!(keys.ending(42), "ns:{s}:ending:42");
        assert_eq!(keys.affinity("b"), "ns:{s}:affinity:b");
        assert_eq!(keys.affinity_index(), "ns:{s}:affinities");
        assert_eq!(keys.request("r-1"), "ns:{s}:request:r-1");
    }

    #[test]
    fn a_shop_id_holding_a_closing_brace_stays_inside_its_hash_tag() {
        let keys = ShopKeys::new("ns", "s}:request:r1");
        assert_eq!(keys.shop(), "ns:{s%7D:request:r1}:shop");
        assert_eq!(ShopKeys::new("ns", "50%}").fence(), "ns:{50%25%7D}:fence");
        // Ids without `%` or `}` are written as they always were.
        assert_eq!(ShopKeys::new("ns", "分流:{x").shop(), "ns:{分流:{x}:shop");
    }

    /// Shop isolation in Redis: every key names its shop unambiguously (the shop
    /// id can be read back from the key, up to the first `}`), so no key of one
    /// shop is a key of another, whatever the ids.
    #[test]
    fn every_key_names_its_shop_so_no_two_shops_share_a_key() {
        use proptest::prelude::*;
        fn shop_of(key: &str) -> String {
            let tag = key
                .strip_prefix("ns:{")
                .expect("the namespace, then the tag");
            let end = tag.find('}').expect("the tag ends");
            tag[..end].replace("%7D", "}").replace("%25", "%")
        }
        let piece = proptest::sample::select(vec![
            "s",
            "}",
            "{",
            ":",
            "%",
            "%7D",
            "%25",
            "}:request:",
            "}:shop",
            "分",
        ]);
        let id = prop_oneof![
            proptest::collection::vec(piece, 1..8).prop_map(|pieces| pieces.concat()),
            any::<String>(),
        ];
        let config = ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        proptest!(config, |(shop in id.clone(), tail in id)| {
            let keys = ShopKeys::new("ns", &shop);
            for key in [
                keys.fence(),
                keys.shop(),
                keys.accounts(),
                keys.groups(),
                keys.sessions(),
                keys.affinity_index(),
                keys.ending(7),
                keys.presence(&tail),
                keys.affinity(&tail),
                keys.request(&tail),
            ] {
                prop_assert_eq!(shop_of(&key), shop.clone(), "{}", key);
            }
        });
    }
}
