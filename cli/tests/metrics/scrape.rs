//! Scraping a node's admin port as Prometheus does (`GET /metrics` over
//! HTTP/1.1), and reading the text format back: each family's `# TYPE` and
//! each sample by name and labels.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One scrape: the raw text, the families' types and every sample.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The body as served.
    pub text: String,
    /// `# TYPE` of each family, by name.
    pub types: BTreeMap<String, String>,
    /// Each sample's value, by name and labels sorted by name.
    samples: BTreeMap<(String, Labels), f64>,
}

/// `GET path` on `address`: the status code and the body.
pub async fn http_get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the metrics body is sent whole, with its length: {head}"
    );
    Ok((status, body.to_owned()))
}

/// Scrapes `address`, retrying while the port is not listening yet (at most
/// 15 s: a child process takes a moment to start).
pub async fn scrape(address: SocketAddr) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match http_get(address, "/metrics").await {
            Ok((200, body)) => return Scrape::parse(body),
            Ok((status, body)) => panic!("GET /metrics on {address}: {status} {body}"),
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the metrics port {address} never answered: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Labels as (name, value) pairs, sorted by name.
type Labels = Vec<(String, String)>;

/// A sample line `name{a="x",b="y"} value` (or `name value`) read as its
/// name, its labels and its value's text.
fn series(line: &str) -> Option<(String, Labels, &str)> {
    let (series, value) = line.rsplit_once(' ')?;
    let Some((name, labels)) = series.split_once('{') else {
        return Some((series.to_owned(), Vec::new(), value));
    };
    let mut pairs: Labels = labels
        .trim_end_matches('}')
        .split("\",")
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once("=\"")?;
            Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
        })
        .collect();
    pairs.sort();
    Some((name.to_owned(), pairs, value))
}

impl Scrape {
    pub fn parse(text: String) -> Scrape {
        let mut types = BTreeMap::new();
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, value) =
                series(line).unwrap_or_else(|| panic!("a sample line: {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a number in {line:?}"));
            samples.insert((name, labels), value);
        }
        Scrape {
            text,
            types,
            samples,
        }
    }

    /// The sample `name` with exactly `labels`, if served.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// The sample `name` with `labels`; a counter series not served yet is 0.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// Sum of every sample of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|((sample, have), _)| {
                sample == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, value)| value)
            .sum()
    }
}
