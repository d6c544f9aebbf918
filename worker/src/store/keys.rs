//! The Redis key layout. Every key of a shop carries `{shop_id}` as its hash tag,
//! so that a shop lives in one Redis Cluster slot and each script touches one slot.
//! Keys start with a namespace (`fenliu` unless configured), so that several
//! deployments can share one Redis.
//!
//! | key | type | what | expires |
//! |---|---|---|---|
//! | `fenliu:{S}:fence` | string | highest fencing token that touched the shop | never |
//! | `fenliu:{S}:shop` | string | `ShopRecord`: settings, main account, counters | never |
//! | `fenliu:{S}:accounts` | hash | account id → `AccountRecord` | never |
//! | `fenliu:{S}:presence:{account}` | string | the account is logged in | presence TTL |
//! | `fenliu:{S}:groups` | hash | group name → `GroupRecord` | never |
//! | `fenliu:{S}:sessions` | hash | session id → `SessionRecord` (open and ended) | deleted on close |
//! | `fenliu:{S}:ending:{session}` | string | an ended session still holds its slot | close delay |
//! | `fenliu:{S}:affinity:{buyer}` | string | the buyer's last account | affinity window |
//! | `fenliu:{S}:affinities` | set | buyers that may have an affinity key (index) | pruned |
//! | `fenliu:{S}:request:{request_id}` | string | `RouteRecord` of a Route | 1 hour |

/// The keys of one shop.
#[derive(Debug, Clone)]
pub struct ShopKeys {
    prefix: String,
}

impl ShopKeys {
    pub fn new(namespace: &str, shop_id: &str) -> Self {
        ShopKeys {
            prefix: format!("{namespace}:{{{shop_id}}}:"),
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn fence(&self) -> String {
        self.key("fence")
    }
    pub fn shop(&self) -> String {
        self.key("shop")
    }
    pub fn accounts(&self) -> String {
        self.key("accounts")
    }
    pub fn presence(&self, account: &str) -> String {
        self.key(&format!("presence:{account}"))
    }
    pub fn groups(&self) -> String {
        self.key("groups")
    }
    pub fn sessions(&self) -> String {
        self.key("sessions")
    }
    pub fn ending(&self, session: u64) -> String {
        self.key(&format!("ending:{session}"))
    }
    pub fn affinity(&self, buyer: &str) -> String {
        self.key(&format!("affinity:{buyer}"))
    }
    pub fn affinity_index(&self) -> String {
        self.key("affinities")
    }
    pub fn request(&self, request_id: &str) -> String {
        self.key(&format!("request:{request_id}"))
    }
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
}
