//! Fuzzed requests through real servers (issue 9, "Fuzzed inputs").
//!
//! - Arbitrary values in every field of every `fenliu.v1.Routing` request (ids of
//!   any Unicode and length, enum numbers of any `i32`, numbers at their edges,
//!   optional and nested fields absent), sent through the dispatcher or straight to
//!   the worker: never a panic, never INTERNAL or UNKNOWN, every refusal a code a
//!   client can act on naming a field of the request, a refused call changes
//!   nothing, and no call changes a shop but the one it names (each case has a
//!   neighbour shop whose id extends its shop's with pieces of the Redis key
//!   layout, `}:request:r1`, and ids that end like keys, `r1}:shop`).
//! - Arbitrary bytes as the request message of every method (a codec that sends
//!   bytes as they are): bytes that do not decode are refused with INVALID_ARGUMENT
//!   naming the method, bytes that do are a normal call; the server keeps serving.
//! - The worker's end of the dispatcher link fed calls with any method number,
//!   request bytes, deadline and metadata: each answered once with a clean code.
//!
//! The modules:
//!
//! - `fixture`: the deployment, the case's shops, the ids that name what is in
//!   them, snapshots of a shop.
//! - `requests`: every request as one value: its method, its fields, sending it.
//! - `strategies`: how proptest draws requests.
//! - `checks`: what every answer must be, and which shops a call may change.
//! - `runner`: a property against a real deployment, bounded, watching for panics.
//! - `typed_calls`: the property of fuzzed field values.
//! - `raw_bytes`: the property of arbitrary bytes, and the codec that sends them.
//! - `link_calls`: the property of fuzzed link calls.
//!
//! The `#[test]` functions live here, at the crate root, so that they keep their
//! plain names; each runs the `check` function of its module (which keeps the
//! failing cases proptest finds in `proptest-regressions/<module>.txt`). The codes
//! seen per method are printed at the end of each (`--nocapture` shows them);
//! `FUZZ_CASES=<n>` runs `n` cases of each property instead.

mod checks;
mod fixture;
mod link_calls;
mod raw_bytes;
mod requests;
mod runner;
mod strategies;
mod typed_calls;

use fenliu_tests::*;
use tonic::Code;

use crate::checks::tally_report;

#[test]
fn fuzzed_requests_never_fail_internally_and_a_refusal_changes_nothing() {
    typed_calls::check(128, false);
    eprintln!("codes seen:\n{}", tally_report());
}

/// The same on a worker keeping its state in Redis (fewer cases: a call costs a
/// round trip to Redis), whose store writes ids into key names and records.
#[test]
fn fuzzed_requests_on_redis_never_fail_internally_and_a_refusal_changes_nothing() {
    typed_calls::check(64, true);
    eprintln!("codes seen:\n{}", tally_report());
}

#[test]
fn arbitrary_bytes_as_a_request_get_a_clean_refusal_and_the_server_keeps_serving() {
    raw_bytes::check(128);
    eprintln!("codes seen:\n{}", tally_report());
}

#[test]
fn fuzzed_link_calls_are_each_answered_once_with_a_clean_code() {
    link_calls::check(64);
    eprintln!("codes seen:\n{}", tally_report());
}

/// tonic answers a request it cannot decode with INTERNAL; both servers answer
/// INVALID_ARGUMENT naming the method (and, from prost, the message and field).
#[tokio::test]
async fn an_undecodable_request_is_invalid_argument_naming_the_method_at_worker_and_dispatcher() {
    bounded(async {
        let node = TestNode::start().await;
        // Field 1 (shop_id), 2 bytes long, not UTF-8.
        let bytes = vec![0x0a, 0x02, 0xff, 0xfe];
        for address in [node.dispatcher_address(), node.worker_address()] {
            for (method, message) in [("Route", "RouteRequest"), ("WatchShop", "WatchShopRequest")]
            {
                let refused = raw_bytes::raw_call(channel(address).await, method, bytes.clone())
                    .await
                    .unwrap_err();
                assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
                let path = format!("/fenliu.v1.Routing/{method}");
                assert!(refused.message().contains(&path), "{refused:?}");
                assert!(
                    refused.message().contains(&format!("{message}.shop_id")),
                    "{refused:?}"
                );
            }
        }
        node.stop().await;
    })
    .await;
}

/// A unary call whose body holds no request message is the caller's mistake too.
#[tokio::test]
async fn a_call_without_a_request_message_is_invalid_argument_at_worker_and_dispatcher() {
    bounded(async {
        let node = TestNode::start().await;
        for address in [node.dispatcher_address(), node.worker_address()] {
            let refused = raw_bytes::call_without_message(channel(address).await, "GetShop")
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
            assert!(
                refused.message().contains("/fenliu.v1.Routing/GetShop"),
                "{refused:?}"
            );
        }
        node.stop().await;
    })
    .await;
}
