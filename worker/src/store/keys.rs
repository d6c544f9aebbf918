//! The Redis key layout: the only place a shop's key names are built (the Lua
//! scripts take them from here as KEYS, never build one).
//!
//! Every key of a shop carries `{S}` as its hash tag, S being the shop id
//! escaped, so that a shop lives in one Redis Cluster slot and each script
//! touches one slot. Keys start with a namespace (`fenliu` unless configured),
//! so that several deployments can share one Redis.
//!
//! | key | type | what | expires |
//! |---|---|---|---|
//! | `fenliu:{S}:fence` | string | highest fencing token that touched the shop; set when the shop is created, so it exists exactly while the shop does | never |
//! | `fenliu:{S}:shop` | string | `ShopRecord`: settings, profile, main account | never |
//! | `fenliu:{S}:accounts` | hash | account id → `AccountRecord` | never |
//! | `fenliu:{S}:presence:<account>` | string | the account is logged in | presence TTL |
//! | `fenliu:{S}:groups` | hash | group name → `GroupRecord` | never |
//! | `fenliu:{S}:sessions` | hash | session id → `SessionRecord` (open and ended); and [`COUNTERS_FIELD`] → `CountersRecord` | a session's field is deleted on close |
//! | `fenliu:{S}:ending:<session>` | string | an ended session still holds its slot | close delay |
//! | `fenliu:{S}:affinity:<buyer>` | string | the buyer's last account | affinity window |
//! | `fenliu:{S}:affinities` | set | buyers that may have an affinity key (index) | pruned |
//! | `fenliu:{S}:request:<request_id>` | string | `RouteRecord` of a Route | 1 hour |
//! | `fenliu:{S}:events` | stream | the shop's events for `WatchShop`, entry id `<sequence>-0`, field `e` → a `fenliu.v1.ShopEvent` | capped at about [`EVENTS_KEPT`](super::redis_store::EVENTS_KEPT) entries |
//!
//! The shop's counters sit in the sessions hash because they move with the
//! sessions (a new session takes the next id, an assignment or a queue entry the
//! next sequence number): one `HSET` writes both.
//!
//! # Why a key name can only ever be its own shop's
//!
//! Shop, account, buyer and request ids come from callers and may hold any
//! bytes, `{`, `}` and `:` among them. Written as they are, one tenant could
//! name another's keys: buyer `y}:shop` of shop `A` had the affinity key
//! `fenliu:{A}:affinity:y}:shop`, which was also the record of shop
//! `A}:affinity:y`. So every id is *escaped* as it is written into a name:
//! `%`, `{`, `}` and `:` become `%25`, `%7B`, `%7D` and `%3A`, and nothing
//! else changes (an ordinary id reads in redis-cli as it is). Then:
//!
//! - an escaped id holds no `{`, `}` nor `:`, and the namespace holds none
//!   either (it is checked at start, `fenliu_node::cluster_options`): the first
//!   `{` of a name opens the shop's tag, the first `}` after it closes it, so the
//!   tag Redis Cluster hashes is exactly the escaped shop id, and every `:` after
//!   it is a separator: a name reads back as (namespace, shop, kind, id);
//! - percent-encoding is reversible, so distinct ids give distinct escaped ids.
//!
//! Together: the name is an injective function of (namespace, shop, kind, id),
//! which the tests (`keys/tests.rs`) check by decoding names back. An escape was
//! chosen over refusing these characters at the edge because ids are the
//! platforms' own (buyer names, request ids): refusing some would break callers
//! for a storage concern, and every id field would need the rule. The shop id
//! is never empty (the gRPC edge refuses it), so the tag is never `{}`, which
//! Redis would not take as a tag.
//!
//! The membership and lease keys (`fenliu_node::registry`) share the namespace
//! with the tag `{meta}`, which a shop called `meta` has too: they share a slot
//! but never a name, because the word after the tag (the kind) of a shop key is
//! never one of the registry's [`META_KEY_KINDS`] (tested too).
//!
//! [`META_KEY_KINDS`]: fenliu_node::registry::META_KEY_KINDS

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
    Events,
}

impl Key<'_> {
    /// The word that follows the shop's tag in the key's name.
    fn kind(self) -> &'static str {
        match self {
            Key::Fence => "fence",
            Key::Shop => "shop",
            Key::Accounts => "accounts",
            Key::Presence(_) => "presence",
            Key::Groups => "groups",
            Key::Sessions => "sessions",
            Key::Ending(_) => "ending",
            Key::Affinity(_) => "affinity",
            Key::AffinityIndex => "affinities",
            Key::Request(_) => "request",
            Key::Events => "events",
        }
    }
}

/// An id as written into a key name: `%`, `{`, `}` and `:` percent-encoded (see
/// the module's doc), everything else as it is. Written where it is displayed,
/// so an id without those characters costs one scan and one write.
#[derive(Clone, Copy, Debug)]
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest
            .bytes()
            .position(|byte| matches!(byte, b'%' | b'{' | b'}' | b':'))
        {
            // The four are ASCII, so `at` and `at + 1` are char boundaries.
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'%' => "%25",
                b'{' => "%7B",
                b'}' => "%7D",
                _ => "%3A",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// The keys of one shop.
#[derive(Debug, Clone)]
pub struct ShopKeys {
    /// `<namespace>:{<escaped shop id>}:`, the start of every key of the shop.
    prefix: String,
}

/// A key's full name, written where it is displayed (into a command's buffer,
/// without a string of its own).
#[derive(Clone, Copy, Debug)]
pub struct KeyName<'k, 'a> {
    /// The shop's part: namespace and tag.
    prefix: &'k str,
    /// Which key of the shop.
    key: Key<'a>,
}

impl fmt::Display for KeyName<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        f.write_str(self.key.kind())?;
        match self.key {
            Key::Presence(id) | Key::Affinity(id) | Key::Request(id) => {
                write!(f, ":{}", Escaped(id))
            }
            // Decimal: nothing to escape.
            Key::Ending(session) => write!(f, ":{session}"),
            Key::Fence
            | Key::Shop
            | Key::Accounts
            | Key::Groups
            | Key::Sessions
            | Key::AffinityIndex
            | Key::Events => Ok(()),
        }
    }
}

impl ShopKeys {
    /// The keys of `shop_id` (not empty: the gRPC edge refuses an empty one)
    /// under `namespace` (of the alphabet `--redis-namespace` is checked for).
    pub fn new(namespace: &str, shop_id: &str) -> Self {
        debug_assert!(
            fenliu_node::cluster_options::namespace_is_safe(namespace),
            "namespace {namespace:?}"
        );
        debug_assert!(!shop_id.is_empty(), "an empty shop id has no hash tag");
        ShopKeys {
            prefix: format!("{namespace}:{{{}}}:", Escaped(shop_id)),
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
    pub fn events(&self) -> String {
        self.name(Key::Events).to_string()
    }
}

#[cfg(test)]
mod tests;
