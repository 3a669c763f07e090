//! `GET /metrics`: the Prometheus text exposition (format 0.0.4).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

/// Renders every metric, with the circle and device gauges read now.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let counts = state.db(|s| s.counts()).await?;
    let text = state.metrics().render(counts).map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}
