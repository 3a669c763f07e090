//! The `Router`: every route of PROTOCOL.md, JSON fallbacks for unknown
//! routes (404) and wrong methods (405), the body limits (a push of
//! records has its own), and the middleware (panic → 500 JSON; span,
//! counter and latency; the head's limits; the per-IP rate limit; the
//! body's deadline).

use crate::error::ApiError;
use crate::handlers::{
    self, auth, circles, health, invites, manifests, metrics, shares, ws, zones,
};
use crate::middleware::{body_deadline, limit_head, limit_ip, observe};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;

/// A panic in a handler answers 500 `internal`, revealing nothing.
fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::internal("a handler panicked").into_response()
}

/// Builds the application for one server.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().limits.max_body_bytes;
    let max_records_body = state.config().limits.max_records_body_bytes;
    let mut app = Router::new().route("/healthz", get(health::healthz));
    // Metrics go on their own listener (see `metrics_router`); here only
    // when the admin says so.
    if state.config().metrics_public {
        app = app.route("/metrics", get(metrics::metrics));
    }
    app.route("/v1/circles", post(circles::create))
        .route(
            "/v1/circles/{circle_id}/log",
            // A removal brings its cut list: the records' limit.
            get(circles::read_log)
                .post(circles::append)
                .layer(DefaultBodyLimit::max(max_records_body)),
        )
        .route(
            "/v1/circles/{circle_id}/cuts/{seq}/{zone}",
            get(circles::cut_list),
        )
        .route(
            "/v1/circles/{circle_id}/shares",
            get(shares::list).post(shares::post),
        )
        .route("/v1/circles/{circle_id}/invites", post(invites::create))
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/changes",
            get(zones::changes),
        )
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/records",
            // The route's own limit wins over the default set below.
            post(zones::push).layer(DefaultBodyLimit::max(max_records_body)),
        )
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/manifest",
            get(zones::manifest),
        )
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/buckets",
            get(zones::buckets),
        )
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/manifests",
            get(manifests::list),
        )
        .route(
            "/v1/circles/{circle_id}/zones/{zone}/manifests/{peer_id}",
            put(manifests::put),
        )
        .route("/v1/auth/challenge", post(auth::challenge))
        .route("/v1/auth/token", post(auth::token))
        .route("/v1/invites/{invite_id}/join", post(invites::join))
        .route(
            "/v1/invites/{invite_id}/messages",
            get(invites::read_messages).post(invites::post_message),
        )
        .route("/v1/ws", get(ws::upgrade))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_ip,
        ))
        .layer(axum::middleware::from_fn(limit_head))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// The metrics listener's application: `GET /metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}
