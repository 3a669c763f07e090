//! Pairing: a member creates an invite, the new device joins it (once,
//! before it expires) and gets a relay token, and the two exchange opaque
//! messages through the server. A reader long-polls: it waits on the
//! invite's `Notify` (no polling) until the other side posts, its `wait`
//! runs out, or the server stops.

use super::random32;
use crate::config::MAX_INVITE_TTL_SECS;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Bearer, Member, token_hash};
use crate::state::{AppState, unix_now};
use crate::storage::quota::check_new_device;
use crate::storage::{InviteId, Side, StorageError};
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;
use tokio::time::Instant;
use vault_proto::auth::BearerToken;
use vault_proto::codec::{invite_hex, parse_invite};
use vault_proto::invites::{
    CreateRequest, CreateResponse, JoinResponse, Message, MessageRequest, PostResponse, ReadQuery,
    ReadResponse,
};

/// The longest a reader may wait for a message, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// An invite id in a path: 404 if malformed.
fn invite_id(text: &str) -> Result<InviteId, ApiError> {
    parse_invite("invite_id", text).map_err(|_| ApiError::NotFound("no such invite"))
}

/// Creates an invite to the caller's circle.
pub async fn create(
    State(state): State<AppState>,
    member: Member,
    AppPath(circle): AppPath<String>,
    AppJson(req): AppJson<CreateRequest>,
) -> Result<(StatusCode, AppJson<CreateResponse>), ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let id = req.invite_id()?;
    let ttl = req.ttl_secs.unwrap_or(state.config().invite_ttl_secs);
    if !(1..=MAX_INVITE_TTL_SECS).contains(&ttl) {
        return Err(ApiError::invalid("ttl_secs: must be between 1 and 3600"));
    }
    let now = unix_now();
    let expires = now.saturating_add(ttl as i64);
    let inviter = member.peer;
    let quotas = state.config().quotas;
    let expires_in = state
        .db(move |s| {
            // A circle with no room for a device gets no invite: the pairing
            // stops before the new device does anything (the append that
            // adds it checks again).
            let (usage, own) = s.circle_usage(circle_id)?;
            check_new_device(&own.over(&quotas), &usage).map_err(ApiError::QuotaExceeded)?;
            match s.create_invite(&id, circle_id, &inviter, expires) {
                Ok(()) => Ok(ttl),
                Err(StorageError::Conflict) => {
                    // A retry of the same request finds its own open invite.
                    match s.invite(&id, now) {
                        Ok(row)
                            if row.circle_id == circle_id
                                && row.inviter == inviter
                                && row.relay_token_hash.is_none() =>
                        {
                            Ok(u64::try_from(row.expires - now).unwrap_or(0))
                        }
                        _ => Err(ApiError::Conflict("the invite already exists")),
                    }
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
        .inspect_err(|e| state.metrics().refused(e))?;
    Ok((
        StatusCode::CREATED,
        AppJson(CreateResponse {
            invite_id: invite_hex(&id),
            expires_in,
        }),
    ))
}

/// The message's bytes: base64url, not empty, within the relay's limit.
fn message_bytes(state: &AppState, req: &MessageRequest) -> Result<Vec<u8>, ApiError> {
    let bytes = req.decode()?;
    if bytes.len() > state.config().limits.relay_message_bytes {
        return Err(ApiError::TooLarge(
            "the message is over the relay's size limit",
        ));
    }
    Ok(bytes)
}

/// Claims an invite (once) with the joiner's first message.
pub async fn join(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<MessageRequest>,
) -> Result<(StatusCode, AppJson<JoinResponse>), ApiError> {
    let id = invite_id(&id)?;
    let message = message_bytes(&state, &req)?;
    let token = BearerToken::from_bytes(random32()?);
    let hash = token_hash(token.expose_secret());
    let now = unix_now();
    state
        .db(move |s| s.join_invite(&id, &hash, &message, now))
        .await?;
    state.relay_posted(&id);
    Ok((StatusCode::CREATED, AppJson(JoinResponse::new(&token))))
}

/// Which side of the invite's session a bearer token speaks for: the
/// joiner's relay token, or a session token of the inviter.
async fn side_of(state: &AppState, id: InviteId, bearer: Bearer) -> Result<Side, ApiError> {
    let now = unix_now();
    let Bearer(hash) = bearer;
    let invite = state.db(move |s| s.invite(&id, now)).await?;
    if invite.relay_token_hash == Some(hash) {
        return Ok(Side::Joiner);
    }
    let member = Member::from_token(state, hash).await?;
    if member.circle_id == invite.circle_id && member.peer == invite.inviter {
        Ok(Side::Inviter)
    } else {
        Err(ApiError::Forbidden("not a party to this invite"))
    }
}

/// Posts a message from one side and wakes the other side's readers.
pub async fn post_message(
    State(state): State<AppState>,
    bearer: Bearer,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<MessageRequest>,
) -> Result<(StatusCode, AppJson<PostResponse>), ApiError> {
    let id = invite_id(&id)?;
    let side = side_of(&state, id, bearer).await?;
    let message = message_bytes(&state, &req)?;
    let max = state.config().limits.relay_messages_per_invite;
    let now = unix_now();
    let seq = state
        .db(move |s| s.post_relay(&id, side, &message, now, max))
        .await?;
    state.relay_posted(&id);
    Ok((StatusCode::CREATED, AppJson(PostResponse { seq })))
}

/// The other side's messages after `after`, waiting up to `wait` seconds
/// (at most 30) for one to arrive.
pub async fn read_messages(
    State(state): State<AppState>,
    bearer: Bearer,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<ReadQuery>,
) -> Result<AppJson<ReadResponse>, ApiError> {
    let id = invite_id(&id)?;
    let side = side_of(&state, id, bearer).await?;
    let after = q.after.unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let channel = state.relay().channel(&id);
    let stopping = state.stopping();
    tokio::pin!(stopping);
    let messages = loop {
        // Register for the wake-up before reading, so a post between the
        // read and the wait is not missed.
        let notified = channel.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let found = state
            .db(move |s| s.relay_messages(&id, side.other(), after))
            .await?;
        if !found.is_empty() || Instant::now() >= deadline || state.shutting_down() {
            break found;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = &mut stopping => {}
        }
    };
    Ok(AppJson(ReadResponse {
        messages: messages
            .into_iter()
            .map(|m| Message::new(m.seq, &m.message))
            .collect(),
    }))
}
