//! The call metrics of [`MeasuredRpcs`] around a service of canned answers,
//! with this test process' recorder installed and rendered: an answer counted
//! with the code of its trailers, an immediate refusal with the code of its
//! headers, a stream when it opens, and a call abandoned before its answer's
//! end as `CANCELLED`. Each test uses methods no other test of this process
//! counts, so its counts are exact.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response};
use tonic::codegen::{BoxFuture, Bytes, Service};

use super::recorder::{Role, install};
use super::rpc::MeasuredRpcs;

/// An answer's body: its frames, then its end (or never, for a stream).
struct Frames {
    frames: VecDeque<Frame<Bytes>>,
    /// After the frames, stay open (a stream) instead of ending.
    open: bool,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        match self.frames.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None if self.open => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

fn status_headers(code: Code) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let number = HeaderValue::from_str(&(code as i32).to_string()).unwrap();
    headers.insert("grpc-status", number);
    headers
}

/// Answers every call with the same canned answer.
#[derive(Clone)]
enum Canned {
    /// A message, then trailers with this code.
    Unary(Code),
    /// At once, the code in the headers and no body.
    Refused(Code),
    /// Headers, then a message, then nothing yet (a stream, or an answer whose
    /// end has not come).
    Open,
    /// No answer at all yet.
    Never,
}

impl Service<Request<()>> for Canned {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Response<Body>, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let canned = self.clone();
        Box::pin(async move {
            let message = Frame::data(Bytes::from_static(b"\0\0\0\0\0"));
            let (headers, frames, open) = match canned {
                Canned::Unary(code) => {
                    let trailers = Frame::trailers(status_headers(code));
                    (HeaderMap::new(), vec![message, trailers], false)
                }
                Canned::Refused(code) => (status_headers(code), Vec::new(), false),
                Canned::Open => (HeaderMap::new(), vec![message], true),
                Canned::Never => std::future::pending().await,
            };
            let body = Frames {
                frames: frames.into(),
                open,
            };
            let mut response = Response::new(Body::new(body));
            *response.headers_mut() = headers;
            Ok(response)
        })
    }
}

fn call_of(method: &str) -> Request<()> {
    Request::builder()
        .uri(format!("/fenliu.v1.Routing/{method}"))
        .body(())
        .unwrap()
}

/// The dispatcher's count of `method` calls answered `code`, as scraped.
fn scraped(method: &str, code: &str) -> Option<f64> {
    let text = install().expect("the recorder").render();
    let series = format!(
        "fenliu_rpc_requests_total{{role=\"dispatcher\",method=\"{method}\",code=\"{code}\"}} "
    );
    let line = text.lines().find(|line| line.starts_with(&series))?;
    line[series.len()..].parse().ok()
}

/// Reads an answer's body to its end.
async fn read_to_end(response: Response<Body>) {
    let mut body = response.into_body();
    while std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx))
        .await
        .is_some()
    {}
}

fn measured(canned: Canned) -> MeasuredRpcs<Canned> {
    install().expect("the recorder");
    MeasuredRpcs::new(Role::Dispatcher, canned)
}

#[tokio::test]
async fn an_answer_is_counted_with_the_code_of_its_trailers_once_it_ends() {
    let mut service = measured(Canned::Unary(Code::NotFound));
    let response = service.call(call_of("GetShop")).await.unwrap();
    assert_eq!(scraped("GetShop", "NOT_FOUND"), None, "not before its end");
    read_to_end(response).await;
    assert_eq!(scraped("GetShop", "NOT_FOUND"), Some(1.0));
    assert_eq!(scraped("GetShop", "OK"), Some(0.0));
}

#[tokio::test]
async fn a_refusal_at_once_is_counted_with_the_code_of_its_headers() {
    let mut service = measured(Canned::Refused(Code::InvalidArgument));
    let response = service.call(call_of("RemoveGroup")).await.unwrap();
    assert_eq!(scraped("RemoveGroup", "INVALID_ARGUMENT"), Some(1.0));
    drop(response);
    assert_eq!(
        scraped("RemoveGroup", "CANCELLED"),
        None,
        "counted once, whatever becomes of the answer"
    );
}

#[tokio::test]
async fn a_stream_is_counted_when_it_opens() {
    let mut service = measured(Canned::Open);
    let stream = service.call(call_of("WatchShop")).await.unwrap();
    assert_eq!(scraped("WatchShop", "OK"), Some(1.0));
    drop(stream);
    assert_eq!(scraped("WatchShop", "CANCELLED"), None);
}

#[tokio::test]
async fn a_call_abandoned_before_its_answer_ends_is_cancelled() {
    let mut never = measured(Canned::Never);
    let abandoned =
        tokio::time::timeout(Duration::from_millis(20), never.call(call_of("PullQueued"))).await;
    assert!(abandoned.is_err(), "no answer came");
    assert_eq!(scraped("PullQueued", "CANCELLED"), Some(1.0));

    let mut unfinished = measured(Canned::Open);
    let response = unfinished.call(call_of("Transfer")).await.unwrap();
    assert_eq!(scraped("Transfer", "CANCELLED"), None);
    drop(response);
    assert_eq!(scraped("Transfer", "CANCELLED"), Some(1.0));
}

#[tokio::test]
async fn a_path_the_api_does_not_have_is_one_label_not_many() {
    let mut service = measured(Canned::Refused(Code::Unimplemented));
    for path in ["Nope", "Other"] {
        let _ = service.call(call_of(path)).await.unwrap();
    }
    assert_eq!(scraped("unknown", "UNIMPLEMENTED"), Some(2.0));
}
