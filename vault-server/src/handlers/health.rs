//! `GET /healthz`: 200 `{"status":"ok"}` while the database answers.

use crate::error::ApiError;
use crate::extract::AppJson;
use crate::state::AppState;
use axum::extract::State;
use vault_proto::health::HealthResponse;

/// Checks the database with a trivial query.
pub async fn healthz(State(state): State<AppState>) -> Result<AppJson<HealthResponse>, ApiError> {
    if state.shutting_down() {
        return Err(ApiError::Unavailable("the server is shutting down"));
    }
    match state.db_raw(|s| s.ping()).await? {
        Ok(()) => Ok(AppJson(HealthResponse::ok())),
        Err(e) => {
            tracing::warn!(error = %crate::error::ErrorChain(&e), "health check failed");
            Err(ApiError::Unavailable("the database does not answer"))
        }
    }
}
