//! What a verified caller may do: the method's scope, the shop, and — for an
//! agent's token, which *is* one account — acting only as that account. The
//! worker applies these to every call before anything changes.

use super::error::AuthError;
use super::principal::{Principal, ShopGrant};
use super::scopes::scope_of;

impl Principal {
    /// May this caller call `method` (its name in `fenliu.v1.Routing`) on
    /// `shop_id`? A method without a scope in the table is refused.
    pub fn admit(&self, method: &str, shop_id: &str) -> Result<(), AuthError> {
        let Some(scope) = scope_of(method) else {
            return Err(AuthError::permission_denied(format!(
                "{method} is not open to tokens (it has no scope)"
            )));
        };
        if !self.scopes.contains(scope) {
            return Err(AuthError::permission_denied(format!(
                "scope: {method} needs {scope}, which the token does not grant"
            )));
        }
        if !self.shops.allows(shop_id) {
            return Err(AuthError::permission_denied(format!(
                "shop_id: the token is not valid for shop {shop_id:?}"
            )));
        }
        Ok(())
    }

    /// The account a call acts as, from its `field` (`actor_account_id`):
    /// an agent's token acts as its own account (the field must be empty or name
    /// it); a platform token may name any account of its shops.
    pub fn actor<'a>(&'a self, field: &str, requested: &'a str) -> Result<&'a str, AuthError> {
        let Some(own) = &self.account else {
            return Ok(requested);
        };
        if requested.is_empty() || requested == own {
            return Ok(own);
        }
        Err(AuthError::permission_denied(format!(
            "{field}: the token acts as account {own:?}, not {requested:?}"
        )))
    }

    /// A call that changes `account` itself (its status, its heartbeat, a pull
    /// into its slots): an agent's token only for its own account.
    pub fn acts_for(&self, field: &str, account: &str) -> Result<(), AuthError> {
        match &self.account {
            Some(own) if own != account => Err(AuthError::permission_denied(format!(
                "{field}: the token is account {own:?} and may act only for itself, not {account:?}"
            ))),
            _ => Ok(()),
        }
    }
}

impl Principal {
    /// A change only a platform backend may make (a shop's quotas): the token
    /// must be valid for every shop, not only for the one it changes.
    pub fn serves_every_shop(&self, field: &str) -> Result<(), AuthError> {
        match self.shops {
            ShopGrant::Every => Ok(()),
            ShopGrant::Only(_) => Err(AuthError::permission_denied(format!(
                "{field}: only a platform token (shops [\"*\"]) may change it"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scopes::{Scope, ScopeSet};

    fn principal(scopes: &[Scope], shops: &[&str], account: Option<&str>) -> Principal {
        Principal {
            subject: "tester".to_owned(),
            shops: ShopGrant::from_claim(
                &shops.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            ),
            scopes: scopes.iter().copied().collect::<ScopeSet>(),
            account: account.map(str::to_owned),
        }
    }

    #[test]
    fn a_call_needs_its_methods_scope_and_its_shop() {
        let reader = principal(&[Scope::Read], &["s1"], None);
        assert_eq!(reader.admit("GetShopState", "s1"), Ok(()));
        let no_scope = reader.admit("Route", "s1").unwrap_err();
        assert!(
            matches!(&no_scope, AuthError::PermissionDenied(why) if why.contains("fenliu:route"))
        );
        let other_shop = reader.admit("GetShop", "s2").unwrap_err();
        assert!(
            matches!(&other_shop, AuthError::PermissionDenied(why) if why.starts_with("shop_id:"))
        );
        let platform = principal(&Scope::ALL, &["*"], None);
        assert_eq!(platform.admit("UpsertShop", "anything"), Ok(()));
        assert!(platform.admit("Unclassified", "anything").is_err());
    }

    #[test]
    fn an_agent_token_acts_only_as_its_account() {
        let agent = principal(&[Scope::Act], &["s1"], Some("lili"));
        assert_eq!(agent.actor("actor_account_id", ""), Ok("lili"));
        assert_eq!(agent.actor("actor_account_id", "lili"), Ok("lili"));
        let impersonation = agent.actor("actor_account_id", "boss").unwrap_err();
        assert!(
            matches!(&impersonation, AuthError::PermissionDenied(why) if why.starts_with("actor_account_id:"))
        );
        assert_eq!(agent.acts_for("account_id", "lili"), Ok(()));
        assert!(agent.acts_for("account_id", "other").is_err());
    }

    #[test]
    fn only_a_token_for_every_shop_may_change_a_quota() {
        let shop_admin = principal(&[Scope::Admin], &["s1"], None);
        let refused = shop_admin
            .serves_every_shop("route_rate_limit_per_second")
            .unwrap_err();
        assert!(
            matches!(&refused, AuthError::PermissionDenied(why) if why.starts_with("route_rate_limit_per_second:"))
        );
        let platform = principal(&[Scope::Admin], &["*"], None);
        assert_eq!(
            platform.serves_every_shop("route_rate_limit_per_second"),
            Ok(())
        );
    }

    #[test]
    fn a_platform_token_may_name_any_account() {
        let platform = principal(&Scope::ALL, &["*"], None);
        assert_eq!(platform.actor("actor_account_id", "boss"), Ok("boss"));
        assert_eq!(platform.actor("actor_account_id", ""), Ok(""));
        assert_eq!(platform.acts_for("account_id", "anyone"), Ok(()));
    }
}
