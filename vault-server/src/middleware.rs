//! Middleware on every route: a tracing span keyed on the matched route
//! (never the concrete path, which holds ids), the request counter, and the
//! per-IP rate limit. Nothing here reads or logs a body or a header value.

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
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
    let method = req.method().clone();
    let span = tracing::info_span!("request", route = %route, method = %method);
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    state.metrics().request(&route, method.as_str(), status);
    span.in_scope(|| {
        tracing::debug!(status, elapsed_us = started.elapsed().as_micros(), "done");
    });
    response
}

/// Takes one request from the client IP's bucket; 429 when it is empty.
pub async fn limit_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(e) = state.limits().check_ip(addr.ip())
    {
        return e.into_response();
    }
    next.run(req).await
}
