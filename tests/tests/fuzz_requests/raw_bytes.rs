//! The second property: arbitrary bytes as the request message of every `Routing`
//! method, sent as they are (a codec that passes bytes through) to the dispatcher
//! or the worker. Bytes that do not decode as the request must be refused with
//! INVALID_ARGUMENT naming the method; bytes that happen to decode are a normal
//! call, under the first property's rules. Either way the server keeps serving.

use std::time::Duration;

use fenliu_tests::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestCaseResult};
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::checks::{Before, check_refusal, tally};
use crate::fixture::{Deployment, Setup, Shops};
use crate::requests::{FuzzCall, METHODS, Via};
use crate::runner::{check_no_panic_since, panic_count, run_property};
use crate::strategies::any_call;

/// Runs `cases` cases on the embedded default.
pub fn check(cases: u32) {
    run_property(file!(), cases, false, raw_calls(), check_case);
}

/// Sends and receives messages as the bytes they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut message = vec![0; buffer.remaining()];
        buffer.copy_to_slice(&mut message);
        Ok(Some(message))
    }
}

/// A gRPC client of `channel`, ready, and the path of the `Routing` method.
async fn ready_to_call(
    channel: Channel,
    method: &str,
) -> Result<(tonic::client::Grpc<Channel>, PathAndQuery), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(format!("not ready: {error}")))?;
    let path = PathAndQuery::try_from(format!("/fenliu.v1.Routing/{method}"))
        .expect("a method name is a valid path");
    Ok((grpc, path))
}

/// Calls `/fenliu.v1.Routing/<method>` with `body` as the request message.
pub async fn raw_call(channel: Channel, method: &str, body: Vec<u8>) -> Result<(), Status> {
    let (mut grpc, path) = ready_to_call(channel, method).await?;
    let mut request = Request::new(body);
    request.set_timeout(Duration::from_secs(3));
    if method == "WatchShop" {
        grpc.server_streaming(request, path, RawCodec)
            .await
            .map(drop)
    } else {
        grpc.unary(request, path, RawCodec).await.map(drop)
    }
}

/// Calls the unary `/fenliu.v1.Routing/<method>` with no request message at all
/// (a client stream that ends at once).
pub async fn call_without_message(channel: Channel, method: &str) -> Result<(), Status> {
    let (mut grpc, path) = ready_to_call(channel, method).await?;
    let nothing = tokio_stream::empty::<Vec<u8>>();
    grpc.client_streaming(Request::new(nothing), path, RawCodec)
        .await
        .map(drop)
}

/// A change to an encoded message; positions are taken modulo its length.
#[derive(Clone, Copy, Debug)]
pub enum Mutation {
    Overwrite(usize, u8),
    Insert(usize, u8),
    Truncate(usize),
}

/// A request message's bytes: any bytes, or a well-formed request's encoding
/// changed here and there (which keeps much of it readable, so the decoder goes
/// further: a string field turned invalid UTF-8, a length past the end...).
#[derive(Clone, Debug)]
pub enum Body {
    Random(Vec<u8>),
    /// Boxed: a request of the largest method is far larger than any bytes.
    Mutated(Box<FuzzCall>, Vec<Mutation>),
}

impl Body {
    /// The bytes, with the case's shops named where the drawn request named them.
    pub fn bytes(&self, shops: &Shops) -> Vec<u8> {
        match self {
            Body::Random(bytes) => bytes.clone(),
            Body::Mutated(call, mutations) => {
                let mut call = (**call).clone();
                call.place_in(shops);
                mutate(call.encode(), mutations)
            }
        }
    }
}

pub fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len();
        match *mutation {
            Mutation::Overwrite(at, byte) if len > 0 => bytes[at % len] = byte,
            Mutation::Overwrite(..) => bytes.push(0xff),
            Mutation::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
        }
    }
    bytes
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Any bytes, a well-formed request's encoding mutated, or as it is.
pub fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        vec(any::<u8>(), 0..64).prop_map(Body::Random),
        (any_call(), vec(mutation(), 1..4)).prop_map(|(call, m)| Body::Mutated(Box::new(call), m)),
        any_call().prop_map(|call| Body::Mutated(Box::new(call), Vec::new())),
    ]
}

/// One raw call: to which server, which method, and the body. A well-formed
/// request's mutated encoding goes to its own method three times in four.
pub fn raw_calls() -> impl Strategy<Value = Vec<(Via, &'static str, Body)>> {
    let random = (select(METHODS), vec(any::<u8>(), 0..64))
        .prop_map(|(method, bytes)| (method, Body::Random(bytes)));
    let mutated = (
        any_call(),
        vec(mutation(), 1..4),
        proptest::option::weighted(0.25, select(METHODS)),
    )
        .prop_map(|(call, mutations, other_method)| {
            let method = other_method.unwrap_or_else(|| call.method());
            (method, Body::Mutated(Box::new(call), mutations))
        });
    let via = prop_oneof![Just(Via::Dispatcher), Just(Via::Worker)];
    vec(
        (via, prop_oneof![random, mutated]).prop_map(|(via, (method, body))| (via, method, body)),
        1..6,
    )
}

/// One case: fresh shops, then each raw call; its answer checked against what
/// the bytes are (a request of the method, or not), the shops compared before and
/// after (only the shop a successful call names may change), and a valid GetShop
/// answered after every call.
async fn check_case(
    deployment: &Deployment,
    calls: Vec<(Via, &'static str, Body)>,
) -> TestCaseResult {
    let mut case = deployment.start_case(Setup::plain()).await;
    for (via, method, body) in calls {
        let bytes = body.bytes(&case.shops);
        let described = format!("{method} via the {via:?} of bytes {bytes:?} ({body:?})");
        let channel = channel(match via {
            Via::Dispatcher => deployment.node.dispatcher_address(),
            Via::Worker => deployment.node.worker_address(),
        })
        .await;
        let before = Before::take(&mut case, &described).await?;
        let panics = panic_count();
        let result = raw_call(channel, method, bytes.clone()).await;
        check_no_panic_since(panics, &described)?;
        tally(method, &result);
        let decoded = FuzzCall::decode(method, &bytes);
        match (&decoded, &result) {
            (Ok(call), Err(status)) => check_refusal(&described, call.fields(), status)?,
            (Ok(_), Ok(())) => {}
            (Err(decode_error), answer) => {
                let status = answer.as_ref().err().ok_or_else(|| {
                    TestCaseError::fail(format!(
                        "{described}\nwas answered, yet it does not decode ({decode_error})"
                    ))
                })?;
                prop_assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{}\n{:?}",
                    described,
                    status
                );
                prop_assert!(
                    status.message().contains(method),
                    "{described}\nthe refusal should name the method: {status:?}"
                );
            }
        }
        let may_change = match (&decoded, &result) {
            (Ok(call), Ok(())) if !call.reads_only() => Some(call.shop_id()),
            _ => None,
        };
        before.check_after(&mut case, &result, may_change).await?;
        for via in [Via::Dispatcher, Via::Worker] {
            try_get_shop(&mut deployment.client(via), &case.shops.this)
                .await
                .map_err(|status| {
                    TestCaseError::fail(format!(
                        "{described}\nthen GetShop via the {via:?}: {status:?}"
                    ))
                })?;
        }
    }
    Ok(())
}
