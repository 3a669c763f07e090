//! Middleware on every route: a tracing span keyed on the matched route
//! (never the concrete path, which holds ids) and the client's address, the
//! request counter and latency, the per-IP rate limit, the limits on a
//! request's head (414 and 431 with the JSON envelope) and the deadline of
//! its body (408). The client is the peer, or, behind a trusted reverse
//! proxy, the address `X-Forwarded-For` names; nothing here reads or logs a
//! header's value or a body.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::Sleep;
use tracing::Instrument;

/// Longest request target (path and query), in bytes: longer is 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest sum of header names and values, in bytes: larger is 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header lines: more is 431.
pub const MAX_HEADERS: usize = 100;

/// The label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// The response header that carries a request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// Opens the request's span (its id, route, method and client), runs it,
/// counts it, and logs one line when it is answered: status and duration
/// added. The id is the server's own (16 hex digits), also sent back in
/// `X-Request-Id`, so a user's report can be matched to the log.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let method = crate::metrics::method_label(req.method().as_str());
    let client = client_ip(&req, &state.config().trusted_proxies);
    let id = format!("{:016x}", getrandom::u64().unwrap_or_default());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        route = %route,
        method = %method,
        client = %client.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics().request(&route, method, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            status,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            "answered"
        );
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Refuses a request whose target or headers are over their limits, with
/// the JSON envelope (hyper answers a bare 431 only past 1,000 header
/// lines or about 400 KiB of head, far above these).
pub async fn limit_head(req: Request, next: Next) -> Response {
    let uri = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path().len(), |pq| pq.as_str().len());
    if uri > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(req).await
}

/// Gives the request's body `body_timeout_secs` to arrive whole; a body
/// still arriving then fails to read, which the extractors answer with 408
/// `request_timeout`.
pub async fn body_deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let within = Duration::from_secs(state.config().limits.body_timeout_secs);
    let req = req.map(|body| Body::new(DeadlineBody::new(body, within)));
    next.run(req).await
}

/// Why a body stopped: its deadline passed (see [`body_timed_out`]).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether `e`, or an error under it, is [`BodyTimedOut`].
pub fn body_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A body that fails with [`BodyTimedOut`] once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Body, within: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
