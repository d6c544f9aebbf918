//! The console without authentication answers only requests addressed to an IP
//! address or `localhost`. Otherwise a page of any site could rebind its own
//! name to the console's address (DNS rebinding): the browser would then take
//! the console for that site's origin and let its script read shops and act,
//! with no token to stop it. With authentication on, such a page has no token
//! (the admin's is kept by the console's own origin), so any name is served,
//! as behind an ingress.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::routes::json_response;

/// Passes `request` on, or refuses it (403, naming `host`) when
/// authentication is off and it is addressed to a name.
pub async fn addressed_safely(authenticates: bool, request: Request, next: Next) -> Response {
    if authenticates {
        return next.run(request).await;
    }
    let host = request
        .headers()
        .get(header::HOST)
        .map(|value| value.to_str().unwrap_or("").to_owned());
    match host {
        Some(host) if !is_address_or_localhost(&host) => json_response(
            StatusCode::FORBIDDEN,
            &json!({
                "code": "PERMISSION_DENIED",
                "field": "host",
                "message": format!(
                    "host: {host:?} is a name; with authentication off the console answers only to an IP address or localhost (turn authentication on to serve it under a name)"
                ),
            }),
        ),
        _ => next.run(request).await,
    }
}

/// Whether a `Host` header (`name`, `name:port`, `[v6]:port`) names an IP
/// address or `localhost`.
pub fn is_address_or_localhost(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_pass_and_names_do_not() {
        for host in [
            "127.0.0.1:50080",
            "127.0.0.1",
            "10.0.3.7:80",
            "[::1]:50080",
            "[::1]",
            "localhost:50080",
            "LOCALHOST",
        ] {
            assert!(is_address_or_localhost(host), "{host}");
        }
        for host in [
            "attacker.example:50080",
            "attacker.example",
            "127.0.0.1.nip.io:50080",
            "localhost.attacker.example",
            "",
        ] {
            assert!(!is_address_or_localhost(host), "{host}");
        }
    }
}
