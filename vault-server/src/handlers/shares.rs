//! Key shares: `POST` and `GET /v1/circles/{circle_id}/shares`. A share is
//! an opaque blob a member sealed to another member's X25519 key; the
//! recipient hears of it over its WebSocket and pulls it.

use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Member};
use crate::notify::Event;
use crate::state::{AppState, unix_now};
use axum::extract::State;
use axum::http::StatusCode;
use vault_proto::shares::{IncomingShare, ListQuery, ListResponse, PostRequest, PostResponse};

/// Most shares in one answer; a client asks again with `after`.
pub const MAX_SHARES_PAGE: u32 = 1000;

/// Stores shares, each addressed to a current member, in one transaction.
pub async fn post(
    State(state): State<AppState>,
    member: Member,
    AppPath(circle): AppPath<String>,
    AppJson(req): AppJson<PostRequest>,
) -> Result<(StatusCode, AppJson<PostResponse>), ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let max = state.config().limits.shares_per_request;
    if req.shares.len() > max {
        return Err(ApiError::TooLarge("too many shares in one request"));
    }
    let shares = req
        .shares
        .iter()
        .map(|s| s.decode())
        .collect::<Result<Vec<_>, _>>()?;
    let recipients: Vec<[u8; 32]> = shares.iter().map(|(r, _)| *r).collect();
    let stored = shares.len();
    let now = unix_now();
    let sender = member.peer;
    state
        .db(move |s| s.put_shares(circle_id, &sender, &shares, now))
        .await?;
    let mut told = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        if !told.contains(&recipient) {
            state
                .notifier()
                .publish(circle_id, Event::SharesArrived { recipient });
            told.push(recipient);
        }
    }
    Ok((
        StatusCode::CREATED,
        AppJson(PostResponse {
            stored: stored as u64,
        }),
    ))
}

/// Shares addressed to the caller with `id > after`, oldest first.
pub async fn list(
    State(state): State<AppState>,
    member: Member,
    AppPath(circle): AppPath<String>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<AppJson<ListResponse>, ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let after = q.after.unwrap_or(0);
    let me = member.peer;
    let rows = state
        .db(move |s| s.shares(circle_id, &me, after, MAX_SHARES_PAGE))
        .await?;
    Ok(AppJson(ListResponse {
        shares: rows
            .into_iter()
            .map(|r| IncomingShare::new(r.id, &r.sender, &r.blob))
            .collect(),
    }))
}
