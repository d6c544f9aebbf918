//! The third property: the worker's end of the dispatcher link
//! (`fenliu.internal.v1.WorkerLink/Exchange`) fed calls with any method number, any
//! request bytes, any deadline and any metadata. Each call is answered once, with
//! its own id and a clean code; a refused call changes nothing; the stream stays
//! open for the next calls, and ends cleanly when the caller ends it.

use std::collections::BTreeSet;
use std::time::Duration;

use fenliu_node::link::ATTEMPT_TIMED_OUT_METADATA;
use fenliu_node::overload::OVERLOADED_METADATA;
use fenliu_proto::internal::v1 as link;
use fenliu_proto::internal::v1::worker_link_client::WorkerLinkClient;
use fenliu_tests::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestCaseResult};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

use crate::checks::{Before, REFUSALS, check_refusal, no_longer_serving, tally};
use crate::fixture::{Deployment, Setup, Shops};
use crate::raw_bytes::{Body, body};
use crate::requests::{FuzzCall, METHODS, Via};
use crate::runner::{check_no_panic_since, panic_count, run_property};
use crate::strategies::odd_string;

/// The longest a call may wait for its answer (a call takes milliseconds; a call
/// whose task panicked is never answered).
const ANSWER_LIMIT: Duration = Duration::from_secs(3);

/// Runs `cases` cases on the embedded default.
pub fn check(cases: u32) {
    run_property(file!(), cases, false, link_calls(), check_case);
}

/// A call as the dispatcher would send it, every field drawn.
#[derive(Clone, Debug)]
pub struct FuzzLinkCall {
    /// The `LinkMethod` number; `None`: the one of the drawn request's method.
    method: Option<i32>,
    /// The request message's bytes.
    request: Body,
    /// What is left of the caller's deadline (0: none; tiny ones run out).
    timeout_us: u64,
    /// Metadata entries, valid or not as gRPC metadata.
    metadata: Vec<(String, String)>,
}

/// `UpsertShop` → `LINK_METHOD_UPSERT_SHOP`'s number; `None` for a method that
/// does not travel on the link (`WatchShop`).
fn link_number(method: &str) -> Option<i32> {
    let mut name = String::from("LINK_METHOD");
    for c in method.chars() {
        if c.is_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    link::LinkMethod::from_str_name(&name).map(|m| m as i32)
}

/// The `Routing` method a link number stands for, if any.
fn method_of(number: i32) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|method| link_number(method) == Some(number))
}

fn link_call() -> impl Strategy<Value = FuzzLinkCall> {
    let method = prop_oneof![
        6 => Just(None),
        1 => (-2..=16).prop_map(Some),
        1 => any::<i32>().prop_map(Some),
    ];
    let timeout_us = prop_oneof![
        4 => Just(0),
        2 => 1_000_000..=5_000_000u64,
        1 => 0..=100u64,
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ];
    let key = prop_oneof![
        select(vec![
            "traceparent",
            "grpc-timeout",
            "fenliu-not-owner",
            "x-any",
            "te"
        ])
        .prop_map(str::to_owned),
        odd_string(),
    ];
    let value = prop_oneof![Just("1".to_owned()), odd_string()];
    (method, body(), timeout_us, vec((key, value), 0..3)).prop_map(
        |(method, request, timeout_us, metadata)| FuzzLinkCall {
            method,
            request,
            timeout_us,
            metadata,
        },
    )
}

fn link_calls() -> impl Strategy<Value = Vec<FuzzLinkCall>> {
    vec(link_call(), 1..8)
}

impl FuzzLinkCall {
    fn encode(&self, id: u64, shops: &Shops) -> link::LinkCall {
        let own = match &self.request {
            Body::Mutated(call, _) => link_number(call.method()).unwrap_or(0),
            Body::Random(bytes) => 1 + (bytes.len() % 14) as i32,
        };
        link::LinkCall {
            id,
            method: self.method.unwrap_or(own),
            request: self.request.bytes(shops),
            timeout_us: self.timeout_us,
            metadata: self
                .metadata
                .iter()
                .map(|(key, value)| link::MetadataEntry {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
    }
}

/// What the answer to `call` may be: OK; UNIMPLEMENTED when the method number is
/// no linked method (as gRPC answers a method a server lacks: a newer
/// dispatcher's method at an older worker); CANCELLED only when marked as the
/// call's own deadline running out; RESOURCE_EXHAUSTED only when marked as
/// admission control's (the worker's bound, or a deadline passed before the
/// call's turn); INVALID_ARGUMENT when the bytes are no request
/// of the method; else the refusals of a direct call, naming a field.
fn check_answer(call: &link::LinkCall, answer: &link::LinkAnswer) -> TestCaseResult {
    let described = format!("{call:?}\nanswered {answer:?}");
    prop_assert_eq!(answer.id, call.id, "{}", described);
    let code = Code::from_i32(answer.code);
    if code == Code::Ok {
        return Ok(());
    }
    // Admission control answers before reading the request, its method number
    // included: past the worker's bound on calls in flight, or when the call's own
    // deadline passed while it waited for its turn (so only a call with a deadline).
    if code == Code::ResourceExhausted {
        let bound = answer
            .metadata
            .iter()
            .find(|entry| entry.key == OVERLOADED_METADATA)
            .map(|entry| entry.value.as_str());
        match bound {
            Some("deadline") => {
                prop_assert!(call.timeout_us > 0, "{}", described);
                return Ok(());
            }
            Some("node") => return Ok(()),
            // Otherwise a quota of the shop, refused naming it as a direct call is.
            _ => {}
        }
    }
    let Some(method) = method_of(call.method) else {
        prop_assert_eq!(code, Code::Unimplemented, "{}", described);
        return Ok(());
    };
    if code == Code::Cancelled {
        let marked = answer
            .metadata
            .iter()
            .any(|entry| entry.key == ATTEMPT_TIMED_OUT_METADATA);
        prop_assert!(marked && call.timeout_us > 0, "{}", described);
        return Ok(());
    }
    match FuzzCall::decode(method, &call.request) {
        Ok(decoded) => check_refusal(
            &described,
            decoded.fields(),
            &Status::new(code, answer.message.clone()),
        ),
        Err(_) => {
            prop_assert_eq!(code, Code::InvalidArgument, "{}", described);
            Ok(())
        }
    }
}

async fn next_answer(
    answers: &mut Streaming<link::LinkAnswer>,
    during: &str,
) -> Result<link::LinkAnswer, TestCaseError> {
    match tokio::time::timeout(ANSWER_LIMIT, answers.message()).await {
        Ok(Ok(Some(answer))) => Ok(answer),
        Ok(Ok(None)) => Err(TestCaseError::fail(format!("{during}: the link ended"))),
        Ok(Err(status)) => Err(TestCaseError::fail(format!(
            "{during}: the link broke: {status:?}"
        ))),
        Err(_) => Err(TestCaseError::fail(format!(
            "{during}: no answer within {ANSWER_LIMIT:?}"
        ))),
    }
}

/// One case: a fresh shop and a link stream of the case's own; each call sent and
/// answered in turn (the shop compared before and after a refusal), then all of
/// them again at once (each answered once); then the stream ended by the caller.
async fn check_case(deployment: &Deployment, calls: Vec<FuzzLinkCall>) -> TestCaseResult {
    let mut case = deployment.start_case(Setup::plain()).await;
    let mut client = WorkerLinkClient::new(channel(deployment.node.worker_address()).await);
    let (sender, outgoing) = mpsc::channel(64);
    let mut answers = client
        .exchange(ReceiverStream::new(outgoing))
        .await
        .map_err(|status| TestCaseError::fail(format!("open the link: {status:?}")))?
        .into_inner();
    let calls: Vec<link::LinkCall> = calls
        .iter()
        .zip(1..)
        .map(|(call, id)| call.encode(id, &case.shops))
        .collect();
    for call in &calls {
        let described = format!("{call:?}");
        let before = Before::take(&mut case, &described).await?;
        let panics = panic_count();
        sender
            .send(call.clone())
            .await
            .map_err(|_| TestCaseError::fail("the link closed"))?;
        let answer = next_answer(&mut answers, &described).await?;
        check_no_panic_since(panics, &described)?;
        let result = match Code::from_i32(answer.code) {
            Code::Ok => Ok(()),
            code => Err(Status::new(code, answer.message.clone())),
        };
        let method = method_of(call.method).unwrap_or("(no such method)");
        tally(&format!("link {method}"), &result);
        check_answer(call, &answer)?;
        // A call whose own deadline ran out (CANCELLED) may have been applied.
        let decoded = method_of(call.method).and_then(|m| FuzzCall::decode(m, &call.request).ok());
        let may_change = match (Code::from_i32(answer.code), &decoded) {
            (Code::Ok | Code::Cancelled, Some(decoded)) if !decoded.reads_only() => {
                Some(decoded.shop_id())
            }
            _ => None,
        };
        before.check_after(&mut case, &answer, may_change).await?;
    }
    let mut again = BTreeSet::new();
    for call in &calls {
        let call = link::LinkCall {
            id: call.id + 1000,
            ..call.clone()
        };
        again.insert(call.id);
        sender
            .send(call)
            .await
            .map_err(|_| TestCaseError::fail("the link closed"))?;
    }
    while !again.is_empty() {
        let answer = next_answer(&mut answers, "calls all in flight at once").await?;
        prop_assert!(
            again.remove(&answer.id),
            "an answer to no call waiting: {answer:?}"
        );
        let code = Code::from_i32(answer.code);
        prop_assert!(
            code == Code::Ok
                || REFUSALS.contains(&code)
                || [Code::Unimplemented, Code::Cancelled].contains(&code),
            "{answer:?}"
        );
    }
    drop(sender);
    let end = tokio::time::timeout(ANSWER_LIMIT, answers.message()).await;
    prop_assert!(
        matches!(end, Ok(Ok(None))),
        "the link should end cleanly once the caller ends it: {end:?}"
    );
    for shop_id in case.shop_ids() {
        try_get_shop(&mut deployment.client(Via::Dispatcher), shop_id)
            .await
            .map_err(no_longer_serving("a GetShop after the case"))?;
    }
    Ok(())
}

/// Found by CI: a method number no worker knows, with a deadline of 18 µs, was
/// refused by admission control (its deadline passed before its turn) before the
/// method was looked at. Either answer is clean; a bare RESOURCE_EXHAUSTED is not.
#[test]
fn an_unknown_method_past_its_deadline_may_be_refused_by_admission_control() {
    let call = link::LinkCall {
        id: 1,
        method: 264_569_799,
        request: Vec::new(),
        timeout_us: 18,
        metadata: Vec::new(),
    };
    let answer = |code: Code, metadata: Vec<link::MetadataEntry>| link::LinkAnswer {
        id: 1,
        code: code as i32,
        message: String::new(),
        response: Vec::new(),
        metadata,
    };
    let deadline = vec![link::MetadataEntry {
        key: OVERLOADED_METADATA.to_owned(),
        value: "deadline".to_owned(),
    }];
    assert!(check_answer(&call, &answer(Code::ResourceExhausted, deadline)).is_ok());
    assert!(check_answer(&call, &answer(Code::Unimplemented, Vec::new())).is_ok());
    assert!(check_answer(&call, &answer(Code::ResourceExhausted, Vec::new())).is_err());
    assert!(check_answer(&call, &answer(Code::Internal, Vec::new())).is_err());
}
