//! What each RPC of `fenliu.v1.Routing` needs: one scope per method, in one table.
//! A method missing from the table is refused (deny by default), and a test fails
//! when the API gains a method that the table does not classify.

use std::fmt;

/// A permission a token grants, named as in its `scope` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Shop, account and group settings, and removals.
    Admin,
    /// Routing buyers, and agents' presence (`Route`, `Heartbeat`,
    /// `SetAccountStatus`).
    Route,
    /// Acting on sessions (`EndSession`, `Transfer`, `PullQueued`, `RecordReply`).
    Act,
    /// Reading (`GetShop`, `GetSession`, `GetShopState`, `WatchShop`).
    Read,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Admin, Scope::Route, Scope::Act, Scope::Read];

    /// The name in a token's `scope` claim.
    pub fn claim_name(self) -> &'static str {
        match self {
            Scope::Admin => "fenliu:admin",
            Scope::Route => "fenliu:route",
            Scope::Act => "fenliu:act",
            Scope::Read => "fenliu:read",
        }
    }

    /// Reads one scope name; other names (other services' scopes) are `None`.
    pub fn from_claim_name(name: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.claim_name() == name)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Admin => 1,
            Scope::Route => 2,
            Scope::Act => 4,
            Scope::Read => 8,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.claim_name())
    }
}

/// The scopes a token grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// Reads a space-separated `scope` claim, ignoring names that are not fenliu's.
    pub fn from_claim(claim: &str) -> ScopeSet {
        claim
            .split_ascii_whitespace()
            .filter_map(Scope::from_claim_name)
            .collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The claim that grants exactly these scopes.
    pub fn to_claim(self) -> String {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|scope| self.contains(*scope))
            .map(Scope::claim_name)
            .collect();
        names.join(" ")
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        ScopeSet(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

/// The scope each method of `fenliu.v1.Routing` needs, by its name in the API.
/// `None`: not classified, so refused.
pub fn scope_of(method: &str) -> Option<Scope> {
    let scope = match method {
        "UpsertShop" | "UpsertAccount" | "RemoveAccount" | "UpsertGroup" | "RemoveGroup" => {
            Scope::Admin
        }
        "Route" | "Heartbeat" | "SetAccountStatus" => Scope::Route,
        // An agent's app records its own replies (R22): acting on its session.
        "EndSession" | "Transfer" | "PullQueued" | "RecordReply" => Scope::Act,
        "GetShop" | "GetSession" | "GetShopState" | "WatchShop" => Scope::Read,
        _ => return None,
    };
    Some(scope)
}

#[cfg(test)]
pub(crate) mod tests {
    use prost::Message;

    use super::*;

    /// The methods of `fenliu.v1.Routing`, read from the API's own descriptor.
    pub(crate) fn routing_methods() -> Vec<String> {
        let descriptors = prost_types::FileDescriptorSet::decode(fenliu_proto::FILE_DESCRIPTOR_SET)
            .expect("the API's descriptor set decodes");
        let routing = descriptors
            .file
            .iter()
            .filter(|file| file.package() == "fenliu.v1")
            .flat_map(|file| &file.service)
            .find(|service| service.name() == "Routing")
            .expect("fenliu.v1.Routing is in the descriptor set");
        routing
            .method
            .iter()
            .map(|method| method.name().to_owned())
            .collect()
    }

    #[test]
    fn every_method_of_the_api_is_classified() {
        let methods = routing_methods();
        assert!(methods.len() >= 15, "read the whole service: {methods:?}");
        let unclassified: Vec<&String> = methods
            .iter()
            .filter(|method| scope_of(method).is_none())
            .collect();
        assert!(
            unclassified.is_empty(),
            "methods without a scope (add them to scope_of): {unclassified:?}"
        );
    }

    #[test]
    fn an_unknown_method_is_denied() {
        assert_eq!(scope_of("DropEverything"), None);
        assert_eq!(scope_of("route"), None, "names are exact");
    }

    #[test]
    fn a_scope_claim_is_read_ignoring_other_services_scopes() {
        let scopes = ScopeSet::from_claim("openid fenliu:read  fenliu:route profile");
        assert!(scopes.contains(Scope::Read));
        assert!(scopes.contains(Scope::Route));
        assert!(!scopes.contains(Scope::Admin));
        assert!(!scopes.contains(Scope::Act));
        assert_eq!(scopes.to_claim(), "fenliu:route fenliu:read");
        assert_eq!(ScopeSet::from_claim(""), ScopeSet::default());
    }
}
