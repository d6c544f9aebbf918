//! A tiny blocking RESP2 client over `std::net::TcpStream`, enough for tests to
//! poke at Redis directly (`PING`, `SET`, `EXISTS`, `PTTL`, `KEYS`, `CLUSTER
//! INFO`, ...) without depending on a Redis client crate. One connection per
//! command, in plain TCP or TLS ([`Transport`]); every read and write has a
//! timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::tls::{CertFiles, client_config};

/// How a test's connection reaches a Redis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP.
    #[default]
    Plain,
    /// TLS, trusting the CAs in `ca_file` and showing `client` if the server
    /// asks for a certificate. The files are read for each connection, so a
    /// rotation in place is followed.
    Tls {
        /// The CAs the server's certificate is checked against.
        ca_file: PathBuf,
        /// The certificate shown to a server with `tls-auth-clients`.
        client: Option<CertFiles>,
    },
}

/// Connect timeout for [`request`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout for [`request`].
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the message without the leading `-`.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`; `None` for the nil bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`; `None` for the nil array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// Renders the reply as text: simple strings and bulk strings as they are
    /// (lossy UTF-8), integers in decimal, nil as `(nil)`, errors nested in an
    /// array as `(error) MSG`, and arrays as their rendered elements joined by
    /// `\n` (an empty array renders as the empty string).
    pub fn render(&self) -> String {
        match self {
            Reply::Simple(s) => s.clone(),
            Reply::Error(e) => format!("(error) {e}"),
            Reply::Integer(i) => i.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Bulk(None) | Reply::Array(None) => "(nil)".to_string(),
            Reply::Array(Some(items)) => items
                .iter()
                .map(Reply::render)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Turns a top-level error reply into `Err(message)` and renders anything
    /// else with [`Reply::render`].
    pub fn into_text(self) -> anyhow::Result<String> {
        match self {
            Reply::Error(e) => Err(anyhow!(e)),
            other => Ok(other.render()),
        }
    }
}

/// Encodes `args` as a RESP array of bulk strings.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends one command to the Redis at `addr` on a new connection and returns
/// its reply (an error reply is `Ok(Reply::Error(..))`; `Err` means the
/// connection or the protocol failed).
pub fn request(addr: SocketAddr, args: &[&str]) -> anyhow::Result<Reply> {
    request_via(&Transport::Plain, addr, args)
}

/// [`request`] over `transport`.
pub fn request_via(
    transport: &Transport,
    addr: SocketAddr,
    args: &[&str],
) -> anyhow::Result<Reply> {
    anyhow::ensure!(!args.is_empty(), "empty redis command");
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to redis at {addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    match transport {
        Transport::Plain => exchange(stream, addr, args),
        Transport::Tls { ca_file, client } => {
            let config = client_config(ca_file, client.as_ref())?;
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let connection = rustls::ClientConnection::new(config, name)?;
            exchange(rustls::StreamOwned::new(connection, stream), addr, args)
        }
    }
}

/// Sends `args` on `stream` and reads one reply.
fn exchange(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    args: &[&str],
) -> anyhow::Result<Reply> {
    stream
        .write_all(&encode(args))
        .and_then(|()| stream.flush())
        .with_context(|| format!("sending {} to {addr}", args[0]))?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader).with_context(|| format!("reading reply to {} from {addr}", args[0]))
}

/// Sends one command to the Redis on `127.0.0.1:port` and returns the reply
/// as text ([`Reply::into_text`]): error replies become `Err(message)`.
pub fn command(port: u16, args: &[&str]) -> anyhow::Result<String> {
    command_via(&Transport::Plain, port, args)
}

/// [`command`] over `transport`.
pub fn command_via(transport: &Transport, port: u16, args: &[&str]) -> anyhow::Result<String> {
    request_via(transport, SocketAddr::from(([127, 0, 0, 1], port)), args)?.into_text()
}

fn read_line(r: &mut impl BufRead) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf)?;
    if n == 0 {
        bail!("connection closed by redis");
    }
    if !buf.ends_with(b"\r\n") {
        bail!("truncated RESP line: {:?}", String::from_utf8_lossy(&buf));
    }
    buf.truncate(buf.len() - 2);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Reads one RESP2 reply from `r`.
pub fn read_reply(r: &mut impl BufRead) -> anyhow::Result<Reply> {
    let line = read_line(r)?;
    let mut chars = line.chars();
    let kind = chars.next().ok_or_else(|| anyhow!("empty RESP line"))?;
    let rest = chars.as_str();
    Ok(match kind {
        '+' => Reply::Simple(rest.to_string()),
        '-' => Reply::Error(rest.to_string()),
        ':' => Reply::Integer(
            rest.parse()
                .with_context(|| format!("bad integer {rest:?}"))?,
        ),
        '$' => {
            let len: i64 = rest
                .parse()
                .with_context(|| format!("bad bulk length {rest:?}"))?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0; usize::try_from(len)? + 2];
                r.read_exact(&mut buf)?;
                anyhow::ensure!(buf.ends_with(b"\r\n"), "bulk string not terminated by CRLF");
                buf.truncate(buf.len() - 2);
                Reply::Bulk(Some(buf))
            }
        }
        '*' => {
            let n: i64 = rest
                .parse()
                .with_context(|| format!("bad array length {rest:?}"))?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::with_capacity(usize::try_from(n)?.min(1024));
                for _ in 0..n {
                    items.push(read_reply(r)?);
                }
                Reply::Array(Some(items))
            }
        }
        other => bail!("unexpected RESP type byte {other:?} in {line:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Reply {
        read_reply(&mut std::io::Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn encodes_bulk_array() {
        assert_eq!(encode(&["PING"]), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            encode(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn parses_and_renders_every_type() {
        assert_eq!(parse(b"+PONG\r\n").render(), "PONG");
        assert_eq!(parse(b":-7\r\n").render(), "-7");
        assert_eq!(parse(b"$-1\r\n").render(), "(nil)");
        assert_eq!(parse(b"$5\r\na\r\nbc\r\n").render(), "a\r\nbc");
        assert_eq!(parse(b"*0\r\n").render(), "");
        assert_eq!(parse(b"*-1\r\n").render(), "(nil)");
        assert_eq!(
            parse(b"*3\r\n$1\r\na\r\n:2\r\n-ERR x\r\n").render(),
            "a\n2\n(error) ERR x"
        );
        let err = parse(b"-MOVED 1 127.0.0.1:7000\r\n")
            .into_text()
            .unwrap_err();
        assert_eq!(err.to_string(), "MOVED 1 127.0.0.1:7000");
    }
}
