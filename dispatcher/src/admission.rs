//! Admitting a caller at the dispatcher: when authentication is on, its bearer
//! token is verified here, once per call (and once per token: verified tokens
//! are remembered), and the verified principal travels on to the worker in
//! `fenliu-principal`, which decides what the caller may do. Whatever
//! `authorization` and `fenliu-*` metadata a caller sent is removed first, with
//! or without authentication, so that no caller can forge a principal or an
//! internal marker.
//!
//! It also bounds the calls this dispatcher forwards at once
//! ([`fenliu_node::overload`]): past the bound a call is refused at once,
//! `RESOURCE_EXHAUSTED` with a time to retry, rather than queued behind calls
//! its worker cannot answer in time. The bound is `--max-in-flight` (256 by
//! default) while the dispatcher keeps up, and adapts below it under overload
//! to hold what it admits to `--overload-latency-target-ms`
//! ([`fenliu_node::adaptive_limit`]).

use std::sync::Arc;

use fenliu_node::auth::principal::PRINCIPAL_METADATA;
use fenliu_node::auth::verify::Verifier;
use fenliu_node::auth::{bearer_token, strip_caller_metadata};
use fenliu_node::metrics::Role;
use fenliu_node::metrics::meters::auth_refused;
use std::time::Duration;

use fenliu_node::overload::{Bound, InFlightLimit, InFlightPermit, overloaded};
use fenliu_node::server_limits::{DISPATCHER_MAX_IN_FLIGHT, DISPATCHER_OVERLOAD_LATENCY_TARGET};
use tonic::{Request, Status};

/// How this dispatcher admits callers.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `None`: authentication is off; callers are admitted as they come.
    verifier: Option<Arc<Verifier>>,
    /// The calls forwarded at once (`WatchShop` streams are not counted: they
    /// are long-lived and cost nothing while idle).
    in_flight: Arc<InFlightLimit>,
    /// `--max-in-flight`: the most the bound may be.
    max_in_flight: usize,
    /// What the bound holds admitted calls to under overload (`None`: a fixed
    /// bound).
    latency_target: Option<Duration>,
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(None)
    }
}

impl Admission {
    pub fn new(verifier: Option<Arc<Verifier>>) -> Admission {
        let latency_target = Some(DISPATCHER_OVERLOAD_LATENCY_TARGET);
        Admission {
            verifier,
            in_flight: Arc::new(InFlightLimit::adaptive(
                DISPATCHER_MAX_IN_FLIGHT,
                latency_target,
            )),
            max_in_flight: DISPATCHER_MAX_IN_FLIGHT,
            latency_target,
        }
    }

    /// Under overload, holds admitted calls to `target` (`None`: the bound
    /// stays at `--max-in-flight`). Set before [`Admission::with_max_in_flight`].
    pub fn with_latency_target(mut self, target: Option<Duration>) -> Admission {
        self.latency_target = target;
        self.in_flight = Arc::new(InFlightLimit::adaptive(self.max_in_flight, target));
        self
    }

    /// At most `limit` calls forwarded at once (`0`: no bound).
    pub fn with_max_in_flight(mut self, limit: usize) -> Admission {
        self.max_in_flight = limit;
        self.in_flight = Arc::new(InFlightLimit::adaptive(limit, self.latency_target));
        self
    }

    /// Whether callers must bring a bearer token.
    pub fn authenticates(&self) -> bool {
        self.verifier.is_some()
    }

    /// The bound on calls forwarded at once now (`0`: none).
    pub fn in_flight_limit(&self) -> usize {
        self.in_flight.limit()
    }

    /// A place for one more call, held until the call is answered, or the
    /// overload refusal.
    pub fn enter(&self) -> Result<InFlightPermit, Status> {
        self.in_flight.try_enter().ok_or_else(|| {
            overloaded(
                Role::Dispatcher,
                Bound::Node,
                format!(
                    "the dispatcher is overloaded: {} calls in flight; retry shortly",
                    self.in_flight.limit()
                ),
            )
        })
    }

    /// The request as it may be forwarded, or `UNAUTHENTICATED`. `shop_of` names
    /// the shop in the log line of a refusal.
    pub fn admit<T>(
        &self,
        mut request: Request<T>,
        shop_of: impl Fn(&T) -> &str,
    ) -> Result<Request<T>, Status> {
        let verified = match &self.verifier {
            None => None,
            Some(verifier) => {
                let verified = bearer_token(request.metadata())
                    .and_then(|token| verifier.verify(token))
                    .map_err(|error| {
                        let shop = shop_of(request.get_ref());
                        tracing::info!(shop, reason = %error, "call refused: unauthenticated");
                        let status = error.to_status();
                        auth_refused(status.code());
                        status
                    })?;
                Some(verified)
            }
        };
        let metadata = request.metadata_mut();
        strip_caller_metadata(metadata);
        if let Some(verified) = verified {
            metadata.insert(PRINCIPAL_METADATA, verified.principal_metadata.clone());
        }
        Ok(request)
    }
}
