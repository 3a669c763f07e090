//! Middleware on every route: a tracing span keyed on the matched route
//! (never the concrete path, which holds ids) and the client's address, the
//! request counter, and the per-IP rate limit. The client is the peer, or,
//! behind a trusted reverse proxy, the address `X-Forwarded-For` names;
//! nothing else here reads a header, and nothing reads or logs a body.

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use tracing::Instrument;

/// The label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Opens the request's span, runs it, counts and logs the outcome.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let method = crate::metrics::method_label(req.method().as_str());
    let client = client_ip(&req, &state.config().trusted_proxies);
    let span = tracing::info_span!(
        "request",
        route = %route,
        method = %method,
        client = %client.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    );
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    state
        .metrics()
        .request(&route, method, status, started.elapsed());
    span.in_scope(|| {
        tracing::debug!(status, elapsed_us = started.elapsed().as_micros(), "done");
    });
    response
}

/// Takes one request from the client IP's bucket; 429 when it is empty.
/// `/healthz` is never limited: a monitor (or a load balancer) behind the
/// same address as a flooding client must still see the server answer.
pub async fn limit_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/healthz"
        && let Some(ip) = client_ip(&req, &state.config().trusted_proxies)
        && let Err(e) = state.limits().check_ip(ip)
    {
        return e.into_response();
    }
    next.run(req).await
}

/// The request's client: its peer's address, unless the peer is a trusted
/// proxy (see [`forwarded_client`]).
fn client_ip(req: &Request, trusted: &[IpAddr]) -> Option<IpAddr> {
    let ConnectInfo(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(forwarded_client(peer.ip(), req.headers(), trusted))
}

/// Behind trusted proxies, the client is the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy (the ones to its
/// left were written by the client and prove nothing). From any other peer,
/// or with no usable header, the client is the peer.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted = [proxy];
        // From the proxy: the address it appended.
        assert_eq!(
            forwarded_client(proxy, &xff(&["203.0.113.7"]), &trusted),
            client
        );
        // A client's own forged entries to the left are skipped.
        assert_eq!(
            forwarded_client(proxy, &xff(&["1.2.3.4, 203.0.113.7"]), &trusted),
            client
        );
        // A chain of trusted proxies is walked through.
        assert_eq!(
            forwarded_client(proxy, &xff(&["203.0.113.7", "10.0.0.1"]), &trusted),
            client
        );
        // From anyone else, or unusable: the peer.
        assert_eq!(
            forwarded_client(client, &xff(&["1.2.3.4"]), &trusted),
            client
        );
        assert_eq!(forwarded_client(proxy, &xff(&["junk"]), &trusted), proxy);
        assert_eq!(forwarded_client(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
