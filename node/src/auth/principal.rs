//! Who a verified caller is: the token's subject, the shops it may act on, its
//! scopes and, for an agent's app, the account it *is*. The dispatcher verifies a
//! token once and hands the principal to the worker in the `fenliu-principal`
//! metadata of the forwarded call (JSON, base64url: metadata values are ASCII).

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::scopes::ScopeSet;

/// Metadata key of the verified principal on a call a dispatcher forwards. The
/// dispatcher removes any a caller sent, so only its own reaches a worker.
pub const PRINCIPAL_METADATA: &str = "fenliu-principal";

/// The `shops` claim's value that grants every shop (a platform backend's).
pub const EVERY_SHOP: &str = "*";

/// The shops a token may act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShopGrant {
    /// `["*"]`: a platform backend serving every shop.
    Every,
    /// These shops only.
    Only(HashSet<String>),
}

impl ShopGrant {
    pub fn from_claim(shops: &[String]) -> ShopGrant {
        if shops.iter().any(|shop| shop == EVERY_SHOP) {
            return ShopGrant::Every;
        }
        ShopGrant::Only(shops.iter().cloned().collect())
    }

    pub fn allows(&self, shop_id: &str) -> bool {
        match self {
            ShopGrant::Every => true,
            ShopGrant::Only(shops) => shops.contains(shop_id),
        }
    }

    fn to_claim(&self) -> Vec<String> {
        match self {
            ShopGrant::Every => vec![EVERY_SHOP.to_owned()],
            ShopGrant::Only(shops) => {
                let mut shops: Vec<String> = shops.iter().cloned().collect();
                shops.sort_unstable();
                shops
            }
        }
    }
}

/// A verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: who to name in logs of refused calls.
    pub subject: String,
    /// The shops it may act on.
    pub shops: ShopGrant,
    /// What it may do.
    pub scopes: ScopeSet,
    /// The account an agent's token *is*: it acts only as this account.
    pub account: Option<String>,
}

/// The principal as it crosses from dispatcher to worker.
#[derive(Serialize, Deserialize)]
struct PrincipalWire {
    sub: String,
    shops: Vec<String>,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
}

impl Principal {
    /// The metadata value a dispatcher attaches to a forwarded call.
    pub fn to_metadata(&self) -> String {
        let wire = PrincipalWire {
            sub: self.subject.clone(),
            shops: self.shops.to_claim(),
            scope: self.scopes.to_claim(),
            account: self.account.clone(),
        };
        let json = serde_json::to_vec(&wire).expect("a principal serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a principal a dispatcher attached; `None` if it is not one.
    pub fn from_metadata(value: &str) -> Option<Principal> {
        let json = URL_SAFE_NO_PAD.decode(value).ok()?;
        let wire: PrincipalWire = serde_json::from_slice(&json).ok()?;
        Some(Principal {
            subject: wire.sub,
            shops: ShopGrant::from_claim(&wire.shops),
            scopes: ScopeSet::from_claim(&wire.scope),
            account: wire.account,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes::Scope;

    #[test]
    fn a_principal_crosses_to_the_worker_unchanged() {
        let agent = Principal {
            subject: "agent-7".to_owned(),
            shops: ShopGrant::Only(["shop:1".to_owned(), "店铺".to_owned()].into()),
            scopes: [Scope::Route, Scope::Act].into_iter().collect(),
            account: Some("lili".to_owned()),
        };
        let value = agent.to_metadata();
        assert!(value.bytes().all(|b| b.is_ascii_graphic()), "{value}");
        assert_eq!(Principal::from_metadata(&value), Some(agent));
        let platform = Principal {
            subject: "backend".to_owned(),
            shops: ShopGrant::Every,
            scopes: Scope::ALL.into_iter().collect(),
            account: None,
        };
        assert_eq!(
            Principal::from_metadata(&platform.to_metadata()),
            Some(platform)
        );
    }

    #[test]
    fn garbage_is_no_principal() {
        assert_eq!(Principal::from_metadata("not base64!"), None);
        assert_eq!(
            Principal::from_metadata(&URL_SAFE_NO_PAD.encode("{}")),
            None
        );
    }

    #[test]
    fn the_star_grants_every_shop_and_a_list_only_its_shops() {
        assert!(ShopGrant::from_claim(&["*".to_owned()]).allows("any"));
        let some = ShopGrant::from_claim(&["a".to_owned(), "b".to_owned()]);
        assert!(some.allows("a") && some.allows("b"));
        assert!(!some.allows("c"));
        assert!(!ShopGrant::from_claim(&[]).allows("a"), "no shops, no shop");
    }
}
