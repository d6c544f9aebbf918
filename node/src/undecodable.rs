//! A request whose message cannot be decoded is the caller's mistake, and is
//! refused as one: INVALID_ARGUMENT naming the method, never INTERNAL.
//!
//! tonic decodes a request before any handler runs, and answers bytes its protobuf
//! decoder rejects (invalid UTF-8 in a string, a wrong wire type, a length past the
//! end) with INTERNAL "failed to decode Protobuf message: …", and a unary call that
//! carries no message at all with INTERNAL "Missing request message.". Clients
//! treat INTERNAL as the server's fault; fenliu's API promises INVALID_ARGUMENT for
//! bad input. [`RefuseUndecodable`] wraps a service (both roles wrap
//! `fenliu.v1.Routing`) and rewrites exactly those answers.
//!
//! They are told by their words, the only mark tonic leaves: an answer given before
//! the handler ran carries its status in the headers (trailers-only), and no
//! handler of fenliu answers INTERNAL with these words (the dispatcher reports an
//! answer of the worker it cannot decode as "undecodable answer from the worker").
//! The integration test `fuzz_requests` pins the words: if tonic changes them,
//! undecodable requests come back INTERNAL again and it fails.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, Request, Response};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;
use tonic::{Code, Status};

/// How prost's `DecodeError` opens, as tonic passes it on for a request it cannot
/// decode.
const DECODE_ERROR: &str = "failed to decode Protobuf message";
/// tonic's answer to a unary call whose body holds no message.
const MISSING_MESSAGE: &str = "Missing request message.";

/// A service whose undecodable requests are refused with INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct RefuseUndecodable<S> {
    /// The service that decodes and serves the requests.
    inner: S,
}

impl<S> RefuseUndecodable<S> {
    pub fn new(inner: S) -> Self {
        RefuseUndecodable { inner }
    }
}

impl<S: NamedService> NamedService for RefuseUndecodable<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<Request<B>> for RefuseUndecodable<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Response<Body>, Infallible>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // A clone of the URI shares its bytes: no copy on every call for the
        // rare answer that names the method.
        let uri = request.uri().clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            refuse_if_undecodable(uri.path(), response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrites a trailers-only INTERNAL answer to an undecodable request of `method`
/// (its gRPC path) as INVALID_ARGUMENT; leaves every other answer as it is.
pub fn refuse_if_undecodable(method: &str, headers: &mut HeaderMap) {
    if headers.get("grpc-status").map(|code| code.as_bytes()) != Some(b"13") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let message = status.message();
    if status.code() != Code::Internal
        || !(message.starts_with(DECODE_ERROR) || message == MISSING_MESSAGE)
    {
        return;
    }
    let refusal = Status::invalid_argument(format!(
        "request: not a request message of {method} ({message})"
    ));
    // The message is percent-encoded into the header, so writing it cannot fail;
    // were it to, the INTERNAL answer stays.
    let _ = refusal.add_header(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &Status) -> HeaderMap {
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers
    }

    const METHOD: &str = "/fenliu.v1.Routing/Route";

    #[test]
    fn an_undecodable_request_is_refused_as_invalid_argument_naming_the_method() {
        let mut headers = answer(&Status::internal(
            "failed to decode Protobuf message: RouteRequest.shop_id: invalid string value: data is not UTF-8 encoded",
        ));
        refuse_if_undecodable(METHOD, &mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("request: "), "{status:?}");
        assert!(status.message().contains(METHOD), "{status:?}");
        assert!(
            status.message().contains("RouteRequest.shop_id"),
            "{status:?}"
        );

        let mut missing = answer(&Status::internal(MISSING_MESSAGE));
        refuse_if_undecodable(METHOD, &mut missing);
        let status = Status::from_header_map(&missing).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
    }

    #[test]
    fn other_answers_are_left_as_they_are() {
        for status in [
            Status::internal("corrupt stored state of shop s: unknown role 9"),
            Status::internal(
                "undecodable answer from the worker: failed to decode Protobuf message: x",
            ),
            Status::unavailable("failed to decode Protobuf message"),
            Status::not_found("shop_id: shop s does not exist"),
        ] {
            let mut headers = answer(&status);
            let before = headers.clone();
            refuse_if_undecodable(METHOD, &mut headers);
            assert_eq!(headers, before, "{status:?}");
        }
        let mut ok = HeaderMap::new();
        refuse_if_undecodable(METHOD, &mut ok);
        assert!(ok.is_empty());
    }
}
