//! A small HTTP/1.1 client over a plain `TcpStream`, for what the tests say to
//! loopback HTTP servers (the dispatcher's console, chromedriver): one request
//! per connection (`Connection: close`), the answer read to its end, chunked
//! bodies decoded. Enough for JSON requests and answers; [`EventStream`] reads a
//! server-sent-event stream as it comes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The header lines, names lower-cased.
    pub headers: Vec<Header>,
    /// The body, decoded from chunks when it came in chunks.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

fn request_bytes(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    // The address, unless the caller names another host.
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A header line: its lower-cased name and its value.
type Header = (String, String);

/// The status, headers and where the body starts, once the head is complete.
fn split_head(raw: &[u8]) -> Option<(u16, Vec<Header>, usize)> {
    let end = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some((status, headers, end + 4))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    while let Some(line_end) = body.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        decoded.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    decoded
}

/// Reads one answer: to its `Content-Length`, its last chunk, or the
/// connection's end (some servers keep the connection open whatever the request
/// says).
async fn read_answer(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<Header>, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = stream.read(&mut buffer).await?;
        raw.extend_from_slice(&buffer[..read]);
        if let Some((status, headers, start)) = split_head(&raw) {
            let value = |name: &str| {
                headers
                    .iter()
                    .find(|(header, _)| header == name)
                    .map(|(_, value)| value.clone())
            };
            let length = value("content-length").and_then(|length| length.parse::<usize>().ok());
            let chunked = value("transfer-encoding").is_some_and(|value| value.contains("chunked"));
            let complete = match (length, chunked) {
                (Some(length), _) => raw.len() >= start + length,
                (None, true) => raw.ends_with(b"0\r\n\r\n"),
                (None, false) => read == 0,
            };
            if complete || read == 0 {
                let body = if chunked {
                    dechunk(&raw[start..])
                } else {
                    raw[start..].to_vec()
                };
                return Ok((status, headers, body));
            }
        } else if read == 0 {
            return Err(std::io::Error::other(
                "the connection closed before the head",
            ));
        }
    }
}

/// Sends one request and reads the whole answer (at most `timeout`).
pub async fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> HttpAnswer {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream
            .write_all(&request_bytes(address, method, path, headers, body))
            .await?;
        read_answer(&mut stream).await
    };
    let (status, headers, body) = tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} on {address}: no answer within {timeout:?}"))
        .unwrap_or_else(|error| panic!("{method} {path} on {address}: {error}"));
    HttpAnswer {
        status,
        headers,
        body,
    }
}

/// A server-sent-event stream read as it comes. Asked over HTTP/1.0, so that the
/// server sends the events as they are, unchunked, until it closes.
#[derive(Debug)]
pub struct EventStream {
    /// The open connection.
    stream: TcpStream,
    /// What was read and not yet returned as events.
    buffered: String,
}

/// One server-sent event: its name and its data.
#[derive(Debug, Clone)]
pub struct SentEvent {
    /// `event:`.
    pub name: String,
    /// `data:` (the lines joined).
    pub data: serde_json::Value,
}

impl EventStream {
    /// Opens `path` on `address`; the answer's status and head are returned
    /// with the stream (the stream is usable only with status 200).
    pub async fn open(
        address: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, EventStream) {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let mut request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        let mut buffer = [0u8; 4096];
        let (status, body_start) = loop {
            let read = stream.read(&mut buffer).await.expect("read the head");
            assert!(read > 0, "the stream closed before its head");
            raw.extend_from_slice(&buffer[..read]);
            if let Some((status, _, start)) = split_head(&raw) {
                break (status, start);
            }
        };
        let buffered = String::from_utf8_lossy(&raw[body_start..]).into_owned();
        (status, EventStream { stream, buffered })
    }

    /// The next event (keep-alive comments skipped), within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> SentEvent {
        let read = async {
            loop {
                if let Some(end) = self.buffered.find("\n\n") {
                    let block: String = self.buffered.drain(..end + 2).collect();
                    let mut name = String::from("message");
                    let mut data = Vec::new();
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("event:") {
                            name = value.trim().to_owned();
                        } else if let Some(value) = line.strip_prefix("data:") {
                            data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                    return SentEvent { name, data };
                }
                let mut buffer = [0u8; 4096];
                let read = self.stream.read(&mut buffer).await.expect("read events");
                assert!(read > 0, "the event stream ended");
                self.buffered
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .unwrap_or_else(|_| panic!("no server-sent event within {timeout:?}"))
    }
}
