//! Admitting each call at the worker when authentication is on: who the caller
//! is (the principal a dispatcher forwarded, or the caller's own token), whether
//! its token allows the method on the shop, and which account an agent's token
//! acts as. A refused call is logged once, with the caller's subject, the shop
//! and the reason (never the token), and changes nothing: it is refused before
//! the request is read any further.

use std::collections::HashMap;
use std::sync::Arc;

use fenliu_node::auth::error::AuthError;
use fenliu_node::auth::principal::{PRINCIPAL_METADATA, Principal};
use fenliu_node::auth::principal_at_worker;
use fenliu_node::auth::verify::Verifier;
use fenliu_node::metrics::meters::auth_refused;
use fenliu_proto::v1 as pb;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// How this worker admits calls.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `None`: authentication is off and every call is admitted.
    verifier: Option<Arc<Verifier>>,
    /// Principals a dispatcher forwarded, by their metadata value: a platform
    /// backend's calls all carry the same one, and reading it again for every
    /// call (base64, JSON) would cost a microsecond each.
    forwarded: Arc<ForwardedPrincipals>,
}

/// Forwarded principals read already, bounded.
#[derive(Debug, Default)]
struct ForwardedPrincipals(std::sync::Mutex<HashMap<String, Arc<Principal>>>);

/// Forwarded principals remembered at most; past it the memory starts over.
const REMEMBERED_PRINCIPALS: usize = 4096;

impl ForwardedPrincipals {
    fn read(&self, value: &str) -> Option<Arc<Principal>> {
        if let Some(known) = self.0.lock().expect("principals lock").get(value) {
            return Some(known.clone());
        }
        let principal = Arc::new(Principal::from_metadata(value)?);
        let mut known = self.0.lock().expect("principals lock");
        if known.len() >= REMEMBERED_PRINCIPALS {
            known.clear();
        }
        known.insert(value.to_owned(), principal.clone());
        Some(principal)
    }
}

/// An admitted call, and what its caller may still be refused (acting as
/// another account).
#[derive(Debug)]
pub struct Caller {
    /// `None` when authentication is off.
    principal: Option<Arc<Principal>>,
    /// The method, for the log line of a refusal.
    method: &'static str,
    /// The shop, for the log line of a refusal.
    shop_id: String,
}

fn refused(method: &str, shop_id: &str, subject: Option<&str>, error: AuthError) -> Status {
    tracing::info!(method, shop = shop_id, subject, reason = %error, "call refused");
    let status = error.to_status();
    auth_refused(status.code());
    status
}

impl Access {
    pub fn new(verifier: Option<Arc<Verifier>>) -> Access {
        Access {
            verifier,
            forwarded: Arc::default(),
        }
    }

    /// Admits a call of `method` (its name in `fenliu.v1.Routing`) on `shop_id`.
    pub fn admit(
        &self,
        metadata: &MetadataMap,
        method: &'static str,
        shop_id: &str,
    ) -> Result<Caller, Status> {
        let Some(verifier) = &self.verifier else {
            return Ok(Caller {
                principal: None,
                method,
                shop_id: String::new(),
            });
        };
        let principal = self
            .principal(verifier, metadata)
            .map_err(|error| refused(method, shop_id, None, error))?;
        principal
            .admit(method, shop_id)
            .map_err(|error| refused(method, shop_id, Some(&principal.subject), error))?;
        Ok(Caller {
            principal: Some(principal),
            method,
            shop_id: shop_id.to_owned(),
        })
    }
}

impl Access {
    /// The principal a dispatcher forwarded, or else the caller's own token
    /// verified here.
    fn principal(
        &self,
        verifier: &Verifier,
        metadata: &MetadataMap,
    ) -> Result<Arc<Principal>, AuthError> {
        match metadata.get(PRINCIPAL_METADATA) {
            Some(forwarded) => forwarded
                .to_str()
                .ok()
                .and_then(|value| self.forwarded.read(value))
                .ok_or_else(|| AuthError::unauthenticated("fenliu-principal: unreadable")),
            None => principal_at_worker(verifier, metadata),
        }
    }
}

impl Caller {
    /// The account the call acts as, from its `field`: an agent's token acts as
    /// itself (so R19 applies to it as that account).
    pub fn actor<'a>(&'a self, field: &str, requested: &'a str) -> Result<&'a str, Status> {
        match &self.principal {
            None => Ok(requested),
            Some(principal) => principal
                .actor(field, requested)
                .map_err(|error| self.refused(principal, error)),
        }
    }

    /// A call that changes `account` itself: an agent's token only its own.
    pub fn acts_for(&self, field: &str, account: &str) -> Result<(), Status> {
        match &self.principal {
            None => Ok(()),
            Some(principal) => principal
                .acts_for(field, account)
                .map_err(|error| self.refused(principal, error)),
        }
    }

    /// A change only the platform may make (a shop's quota): the token must be
    /// valid for every shop (`shops: ["*"]`), not only for this one.
    pub fn serves_every_shop(&self, field: &str) -> Result<(), Status> {
        match &self.principal {
            None => Ok(()),
            Some(principal) => principal
                .serves_every_shop(field)
                .map_err(|error| self.refused(principal, error)),
        }
    }

    fn refused(&self, principal: &Principal, error: AuthError) -> Status {
        refused(self.method, &self.shop_id, Some(&principal.subject), error)
    }
}

/// Every request names its shop.
pub trait ShopScoped {
    fn shop_id(&self) -> &str;
}

macro_rules! shop_scoped {
    ($($request:ty),* $(,)?) => {
        $(impl ShopScoped for $request {
            fn shop_id(&self) -> &str {
                &self.shop_id
            }
        })*
    };
}

shop_scoped!(
    pb::UpsertShopRequest,
    pb::GetShopRequest,
    pb::UpsertAccountRequest,
    pb::RemoveAccountRequest,
    pb::UpsertGroupRequest,
    pb::RemoveGroupRequest,
    pb::SetAccountStatusRequest,
    pb::HeartbeatRequest,
    pb::RouteRequest,
    pb::EndSessionRequest,
    pb::TransferRequest,
    pb::PullQueuedRequest,
    pb::GetSessionRequest,
    pb::GetShopStateRequest,
    pb::WatchShopRequest,
    pb::RecordReplyRequest,
);
