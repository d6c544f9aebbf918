//! The pieces of the dispatcher–worker link (`fenliu.internal.v1.WorkerLink`) that
//! both ends must agree on: which request message travels as which
//! [`LinkMethod`](link::LinkMethod), how metadata crosses, and the markers a worker
//! puts on a refusal so the dispatcher knows what to do next. A marker is read by
//! its metadata key, never by a status message's words.
//!
//! A stream opens with the link versions the dispatcher speaks
//! (`fenliu-link-version`, `fenliu-link-oldest-version`); the worker answers with
//! the version agreed, or refuses the stream with `UNAVAILABLE` naming both ends'
//! versions ([`crate::versions`] holds the policy).

use fenliu_proto::internal::v1 as link;
use prost::Message;
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::versions::{OLDEST_LINK_VERSION, Window};

/// Metadata key marking a refusal because this worker does not own the shop's
/// shard; its value is the shard number. The status is UNAVAILABLE, so any client
/// may simply retry; the dispatcher retries on the shard's current owner.
pub const NOT_OWNER_METADATA: &str = "fenliu-not-owner";
/// Metadata key of a not-owner refusal: the address of the shard's owner, when
/// known.
pub const OWNER_METADATA: &str = "fenliu-owner";
/// Metadata key of a `RESOURCE_EXHAUSTED` refusal by the shop's `Route` rate
/// limit: how many milliseconds until the shop's next call is let through. A
/// marker for the caller, which the dispatcher passes on without retrying.
pub const RETRY_AFTER_METADATA: &str = "fenliu-retry-after-ms";
/// Metadata key marking an answer the worker gave because the attempt's time (the
/// `timeout_us` of its [`link::LinkCall`]) ran out before the call finished.
pub const ATTEMPT_TIMED_OUT_METADATA: &str = "fenliu-attempt-timed-out";
/// The response header of a `WatchShop` stream: the sequence of the shop's
/// event it follows on from (what a dispatcher resumes from when the stream
/// breaks before its first event, and what a client may keep).
pub const EVENT_SEQUENCE_METADATA: &str = "fenliu-event-sequence";

/// Metadata key of a link stream's opening: the newest link version the
/// dispatcher speaks. On the worker's answer headers: the version agreed, which
/// the stream speaks.
pub const LINK_VERSION_METADATA: &str = "fenliu-link-version";
/// Metadata key of a link stream's opening: the oldest link version the
/// dispatcher still speaks.
pub const LINK_OLDEST_VERSION_METADATA: &str = "fenliu-link-oldest-version";

/// Puts the link versions a dispatcher speaks on a stream's opening metadata.
pub fn offer_link_versions(window: Window, metadata: &mut MetadataMap) {
    metadata.insert(LINK_VERSION_METADATA, window.newest.into());
    metadata.insert(LINK_OLDEST_VERSION_METADATA, window.oldest.into());
}

/// The link version a worker that speaks `ours` agrees on with the dispatcher
/// whose stream opened with `metadata`. A dispatcher that names no version is
/// from before versions existed and speaks the first only. Windows apart:
/// `UNAVAILABLE` naming both (a node of a matching release may take the call
/// soon, as in a rolling upgrade), never `INTERNAL`.
pub fn agree_link_version(ours: Window, metadata: &MetadataMap) -> Result<u32, Status> {
    let newest = version_in(metadata, LINK_VERSION_METADATA)?;
    let oldest = version_in(metadata, LINK_OLDEST_VERSION_METADATA)?;
    let theirs = match (oldest, newest) {
        (_, None) => Window {
            oldest: OLDEST_LINK_VERSION,
            newest: OLDEST_LINK_VERSION,
        },
        (oldest, Some(newest)) => Window {
            oldest: oldest.unwrap_or(newest).min(newest),
            newest,
        },
    };
    ours.agree(theirs).ok_or_else(|| {
        Status::unavailable(format!(
            "{LINK_VERSION_METADATA}: this worker speaks link version {ours}, the dispatcher \
             {theirs}; no version in common (a rolling upgrade across more than one release?)"
        ))
    })
}

/// The version a worker agreed on, from its answer's headers (`None`: a worker
/// from before versions existed, which speaks the first).
pub fn agreed_link_version(metadata: &MetadataMap) -> Option<u32> {
    version_in(metadata, LINK_VERSION_METADATA).ok().flatten()
}

/// The version under `key`, if any; a value that is no version is refused
/// naming the key.
fn version_in(metadata: &MetadataMap, key: &str) -> Result<Option<u32>, Status> {
    let Some(value) = metadata.get(key) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| Status::invalid_argument(format!("{key}: not a version number: {value:?}")))
}

/// The worker's answer to a call whose attempt ran out of time: CANCELLED, as
/// tonic answers a direct call whose `grpc-timeout` ran out, and marked so that the
/// dispatcher can tell it from a cancellation of any other kind.
pub fn attempt_timed_out() -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(ATTEMPT_TIMED_OUT_METADATA, MetadataValue::from_static("1"));
    Status::with_metadata(
        Code::Cancelled,
        "the attempt's time ran out at the worker",
        metadata,
    )
}

/// Whether `status` is a worker's [`attempt_timed_out`] answer.
pub fn is_attempt_timed_out(status: &Status) -> bool {
    status.code() == Code::Cancelled && status.metadata().contains_key(ATTEMPT_TIMED_OUT_METADATA)
}

/// Whether `status` is a worker's refusal of a shop it does not own.
pub fn is_not_owner(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.metadata().contains_key(NOT_OWNER_METADATA)
}

/// A request message of a linked `Routing` method, with the method it travels as
/// and the response it is answered with.
pub trait LinkedCall: Message + Default + Send + 'static {
    const METHOD: link::LinkMethod;
    type Response: Message + Default + Send + 'static;
}

/// Calls `$callback!` with the list of linked methods, one per line:
/// `Variant: routing_method(RequestType) -> ResponseType;`. The one list both ends
/// are built from: this crate implements [`LinkedCall`] with it, and the worker
/// writes its dispatch from a method to the `Routing` code that serves it.
#[macro_export]
macro_rules! with_linked_methods {
    ($callback:ident) => {
        $callback! {
            UpsertShop: upsert_shop(::fenliu_proto::v1::UpsertShopRequest) -> ::fenliu_proto::v1::Shop;
            GetShop: get_shop(::fenliu_proto::v1::GetShopRequest) -> ::fenliu_proto::v1::Shop;
            UpsertAccount: upsert_account(::fenliu_proto::v1::UpsertAccountRequest) -> ::fenliu_proto::v1::Account;
            RemoveAccount: remove_account(::fenliu_proto::v1::RemoveAccountRequest) -> ::fenliu_proto::v1::RemoveAccountResponse;
            UpsertGroup: upsert_group(::fenliu_proto::v1::UpsertGroupRequest) -> ::fenliu_proto::v1::Group;
            RemoveGroup: remove_group(::fenliu_proto::v1::RemoveGroupRequest) -> ::fenliu_proto::v1::RemoveGroupResponse;
            SetAccountStatus: set_account_status(::fenliu_proto::v1::SetAccountStatusRequest) -> ::fenliu_proto::v1::AccountState;
            Heartbeat: heartbeat(::fenliu_proto::v1::HeartbeatRequest) -> ::fenliu_proto::v1::HeartbeatResponse;
            Route: route(::fenliu_proto::v1::RouteRequest) -> ::fenliu_proto::v1::RouteResponse;
            EndSession: end_session(::fenliu_proto::v1::EndSessionRequest) -> ::fenliu_proto::v1::Session;
            Transfer: transfer(::fenliu_proto::v1::TransferRequest) -> ::fenliu_proto::v1::Session;
            PullQueued: pull_queued(::fenliu_proto::v1::PullQueuedRequest) -> ::fenliu_proto::v1::Session;
            GetSession: get_session(::fenliu_proto::v1::GetSessionRequest) -> ::fenliu_proto::v1::Session;
            GetShopState: get_shop_state(::fenliu_proto::v1::GetShopStateRequest) -> ::fenliu_proto::v1::ShopState;
            RecordReply: record_reply(::fenliu_proto::v1::RecordReplyRequest) -> ::fenliu_proto::v1::Session;
        }
    };
}

macro_rules! impl_linked_calls {
    ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
        $(
            impl LinkedCall for $request {
                const METHOD: link::LinkMethod = link::LinkMethod::$variant;
                type Response = $response;
            }
        )*
    };
}

with_linked_methods!(impl_linked_calls);

macro_rules! linked_method_names {
    ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
        /// The name in `fenliu.v1.Routing` of the method a call travels as
        /// (`""` for none): how the call is labelled in the metrics.
        pub fn routing_method_name(method: link::LinkMethod) -> &'static str {
            match method {
                $(link::LinkMethod::$variant => stringify!($variant),)*
                link::LinkMethod::Unspecified => "",
            }
        }

        /// The gRPC name of the `Routing` method a linked call is
        /// (`fenliu.v1.Routing/Route`), as its spans are named.
        pub fn rpc_name(method: link::LinkMethod) -> &'static str {
            match method {
                $(link::LinkMethod::$variant => concat!("fenliu.v1.Routing/", stringify!($variant)),)*
                link::LinkMethod::Unspecified => "fenliu.v1.Routing/Unspecified",
            }
        }
    };
}

with_linked_methods!(linked_method_names);

/// The metadata a call carries, as the `Routing` service reads it from a direct
/// call. Entries that are not valid metadata are left out.
pub fn metadata_from(entries: &[link::MetadataEntry]) -> MetadataMap {
    let mut metadata = MetadataMap::with_capacity(entries.len());
    for entry in entries {
        let key = MetadataKey::from_bytes(entry.key.as_bytes());
        let value = MetadataValue::try_from(entry.value.as_str());
        if let (Ok(key), Ok(value)) = (key, value) {
            metadata.append(key, value);
        }
    }
    metadata
}

/// A map's ASCII entries, except the ones gRPC itself sets on every hop (the
/// deadline travels as `timeout_us`).
pub fn entries_of(metadata: &MetadataMap) -> Vec<link::MetadataEntry> {
    metadata
        .iter()
        .filter_map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => Some((key.as_str(), value.to_str().ok()?)),
            KeyAndValueRef::Binary(..) => None,
        })
        .filter(|(key, _)| !is_transport_header(key))
        .map(|(key, value)| link::MetadataEntry {
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

fn is_transport_header(key: &str) -> bool {
    key.starts_with("grpc-") || matches!(key, "te" | "content-type" | "user-agent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_crosses_the_link_without_the_transport_headers() {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        metadata.insert(NOT_OWNER_METADATA, "7".parse().unwrap());
        metadata.insert("grpc-timeout", "150m".parse().unwrap());
        metadata.insert("te", "trailers".parse().unwrap());
        let entries = entries_of(&metadata);
        let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["traceparent", NOT_OWNER_METADATA]);
        let back = metadata_from(&entries);
        assert_eq!(back.get(NOT_OWNER_METADATA).unwrap(), "7");
        assert_eq!(
            back.get("traceparent").unwrap(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert!(back.get("grpc-timeout").is_none());
    }

    #[test]
    fn a_timed_out_attempt_is_told_by_its_marker_not_its_words() {
        let marked = attempt_timed_out();
        assert!(is_attempt_timed_out(&marked));
        // The marker survives the link, which carries metadata and code.
        let crossed = Status::with_metadata(
            marked.code(),
            marked.message(),
            metadata_from(&entries_of(marked.metadata())),
        );
        assert!(is_attempt_timed_out(&crossed));
        // tonic's own words for a client-side deadline are no marker.
        assert!(!is_attempt_timed_out(&Status::cancelled("Timeout expired")));
        assert!(!is_attempt_timed_out(&Status::cancelled(
            "cancelled by the caller"
        )));
        let mut other_code = Status::unavailable("x");
        other_code
            .metadata_mut()
            .insert(ATTEMPT_TIMED_OUT_METADATA, "1".parse().unwrap());
        assert!(!is_attempt_timed_out(&other_code));
    }

    #[test]
    fn a_stream_agrees_on_the_newest_link_version_both_ends_speak() {
        use crate::versions::Versions;
        let mut opening = MetadataMap::new();
        offer_link_versions(Versions::BUMPED.link, &mut opening);
        let agreed = agree_link_version(Versions::CURRENT.link, &opening).unwrap();
        assert_eq!(agreed, Versions::CURRENT.link.newest);
        let agreed = agree_link_version(Versions::BUMPED.link, &opening).unwrap();
        assert_eq!(agreed, Versions::BUMPED.link.newest);
        // A dispatcher from before versions existed speaks the first.
        let agreed = agree_link_version(Versions::BUMPED.link, &MetadataMap::new()).unwrap();
        assert_eq!(agreed, OLDEST_LINK_VERSION);
    }

    #[test]
    fn a_link_version_outside_the_window_is_refused_as_retryable_naming_both() {
        let mut opening = MetadataMap::new();
        opening.insert(LINK_VERSION_METADATA, "9".parse().unwrap());
        opening.insert(LINK_OLDEST_VERSION_METADATA, "8".parse().unwrap());
        let ours = Window {
            oldest: 1,
            newest: 2,
        };
        let refused = agree_link_version(ours, &opening).unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable);
        assert!(refused.message().contains("1 to 2"), "{refused:?}");
        assert!(refused.message().contains("8 to 9"), "{refused:?}");
        opening.insert(LINK_VERSION_METADATA, "next".parse().unwrap());
        let refused = agree_link_version(ours, &opening).unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().starts_with(LINK_VERSION_METADATA));
    }

    #[test]
    fn only_a_not_owner_refusal_is_recognised_as_one() {
        let mut refused = Status::unavailable("not here");
        refused
            .metadata_mut()
            .insert(NOT_OWNER_METADATA, "7".parse().unwrap());
        assert!(is_not_owner(&refused));
        assert!(!is_not_owner(&Status::unavailable("connection reset")));
        assert!(!is_not_owner(&Status::not_found("shop_id: nope")));
    }

    #[test]
    fn every_linked_method_is_named_as_in_the_api() {
        macro_rules! methods {
            ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
                vec![$(<$request as LinkedCall>::METHOD),*]
            };
        }
        for method in with_linked_methods!(methods) {
            let name = routing_method_name(method);
            assert!(
                crate::metrics::rpc::ROUTING_METHODS.contains(&name),
                "{method:?} is named {name:?}"
            );
        }
        assert_eq!(routing_method_name(link::LinkMethod::Route), "Route");
        assert_eq!(routing_method_name(link::LinkMethod::Unspecified), "");
    }

    #[test]
    fn a_linked_method_is_named_as_grpc_names_it() {
        assert_eq!(
            rpc_name(<fenliu_proto::v1::RouteRequest as LinkedCall>::METHOD),
            "fenliu.v1.Routing/Route"
        );
        assert_eq!(
            rpc_name(link::LinkMethod::GetShopState),
            "fenliu.v1.Routing/GetShopState"
        );
    }

    #[test]
    fn every_linked_method_has_its_own_wire_number() {
        macro_rules! methods {
            ($($variant:ident: $method:ident($request:ty) -> $response:ty;)*) => {
                vec![$(<$request as LinkedCall>::METHOD as i32),*]
            };
        }
        let mut numbers = with_linked_methods!(methods);
        let count = numbers.len();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), count, "two requests share a LinkMethod");
        assert!(!numbers.contains(&(link::LinkMethod::Unspecified as i32)));
    }
}
