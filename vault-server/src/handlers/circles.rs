//! The circle log: `POST /v1/circles` (a genesis), `GET` and `POST
//! /v1/circles/{circle_id}/log`, and the removals' cut lists (`GET
//! /v1/circles/{circle_id}/cuts/{seq}/{zone}`). Appends are checked here (decoding,
//! signer, signature) and again in the storage's write transaction (head,
//! membership), so concurrent appends serialize and exactly one wins.

use crate::circle::{Append, check_genesis};
use crate::config::Registration;
use crate::error::ApiError;
use crate::extract::token_hash;
use crate::extract::{AppJson, AppPath, AppQuery, Member};
use crate::notify::Event;
use crate::state::{AppState, unix_now};
use crate::storage::{MemberChange, RegisterError, StorageError};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use vault_proto::circles::{
    AppendRequest, AppendResponse, CreateRequest, CreateResponse, LogEntry, LogQuery, LogResponse,
};
use vault_proto::codec::b64;
use vault_proto::media::CUT_LIST_MEDIA_TYPE;

/// Most entries in one page of the log.
pub const MAX_LOG_PAGE: u32 = 1000;

/// Creates a circle from its genesis entry.
pub async fn create(
    State(state): State<AppState>,
    AppJson(req): AppJson<CreateRequest>,
) -> Result<(StatusCode, AppJson<CreateResponse>), ApiError> {
    let bytes = req.decode()?;
    let now = unix_now();
    // Who may register: checked before anything is decoded further, and
    // the token consumed in the transaction that creates the circle.
    let token = match (state.config().registration, &req.registration_token) {
        (Registration::Open, _) => None,
        (Registration::Closed, _) => {
            state.metrics().registration_refused();
            return Err(ApiError::RegistrationRefused(
                "this server registers no new circles".into(),
            ));
        }
        (Registration::Token, None) => {
            state.metrics().registration_refused();
            return Err(ApiError::RegistrationRefused(
                "this server registers circles with a registration token from its admin \
                 (vault circle create --registration-token TOKEN)"
                    .into(),
            ));
        }
        (Registration::Token, Some(t)) => Some(token_hash(t.as_bytes())),
    };
    let genesis = state
        .db(move |s| {
            let g = check_genesis(&bytes.entry, &bytes.signature)?;
            let created = match &token {
                None => s
                    .create_circle(g.circle_id, &g.entry, &g.founder, &g.keys, now)
                    .map_err(|e| match e {
                        StorageError::Conflict => RegisterError::Exists,
                        e => e.into(),
                    }),
                Some(t) => {
                    s.create_circle_registered(t, g.circle_id, &g.entry, &g.founder, &g.keys, now)
                }
            };
            match created {
                Ok(()) => Ok(g),
                Err(RegisterError::Exists) => Err(ApiError::Conflict("the circle already exists")),
                Err(RegisterError::Refused(why)) => {
                    Err(ApiError::RegistrationRefused(why.to_string().into()))
                }
                Err(RegisterError::Storage(e)) => Err(e.into()),
            }
        })
        .await
        .inspect_err(|e| {
            if matches!(e, ApiError::RegistrationRefused(_)) {
                state.metrics().registration_refused();
            }
        })?;
    Ok((
        StatusCode::CREATED,
        AppJson(CreateResponse {
            circle_id: genesis.circle_id.hyphenated().to_string(),
            seq: genesis.entry.seq,
            hash: b64(&genesis.entry.hash),
        }),
    ))
}

/// Entries after `after` (all by default), at most `limit` (≤ 1000).
pub async fn read_log(
    State(state): State<AppState>,
    member: Member,
    AppPath(circle): AppPath<String>,
    AppQuery(q): AppQuery<LogQuery>,
) -> Result<AppJson<LogResponse>, ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let limit = q.limit.unwrap_or(MAX_LOG_PAGE).clamp(1, MAX_LOG_PAGE);
    let after = q.after;
    let page = state.db(move |s| s.log(circle_id, after, limit)).await?;
    Ok(AppJson(LogResponse {
        entries: page
            .entries
            .into_iter()
            .map(|e| LogEntry::new(e.seq, &e.entry, &e.signature))
            .collect(),
        head_seq: page.head_seq,
        head_hash: b64(&page.head_hash),
        more: page.more,
    }))
}

/// A removal's cut list, as posted with its entry.
pub async fn cut_list(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, seq, zone)): AppPath<(String, u64, String)>,
) -> Result<Response, ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let list = state
        .db(move |s| {
            s.cut_list(circle_id, seq, &zone).map_err(|e| match e {
                StorageError::NotFound => {
                    ApiError::NotFound("no cut list for that removal and zone")
                }
                other => other.into(),
            })
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, CUT_LIST_MEDIA_TYPE)], list).into_response())
}

/// Appends an entry signed by the caller.
pub async fn append(
    State(state): State<AppState>,
    member: Member,
    AppPath(circle): AppPath<String>,
    AppJson(req): AppJson<AppendRequest>,
) -> Result<(StatusCode, AppJson<AppendResponse>), ApiError> {
    let circle_id = member.require_circle(&circle)?;
    let (prev, bytes) = req.decode()?;
    let lists = req.cut_lists()?;
    let quotas = state.config().quotas;
    let append = state
        .db(move |s| {
            let append = Append::decode(circle_id, &prev, &bytes.entry, &bytes.signature, lists)?;
            let signer = match s.member(circle_id, &append.signer) {
                Ok(m) if !m.removed => m,
                Ok(_) | Err(StorageError::NotFound) => {
                    return Err(ApiError::Forbidden("not a current member"));
                }
                Err(e) => return Err(e.into()),
            };
            append.verify(&signer.keys)?;
            s.append_entry(
                circle_id,
                &append.signer,
                &append.entry,
                &append.change,
                &quotas,
            )?;
            Ok(append)
        })
        .await
        .inspect_err(|e| state.metrics().refused(e))?;
    let seq = append.entry.seq;
    let notifier = state.notifier();
    // The removed device's sockets close first: it hears nothing more.
    if let MemberChange::Remove { peer, .. } = append.change {
        notifier.publish(circle_id, Event::MemberRemoved { peer });
    }
    notifier.publish(
        circle_id,
        Event::CircleGrew {
            head_seq: seq,
            author: member.peer,
        },
    );
    Ok((
        StatusCode::CREATED,
        AppJson(AppendResponse {
            seq,
            hash: b64(&append.entry.hash),
        }),
    ))
}
