//! Sync zones: `GET .../zones/{zone}/changes`, `POST .../records`, `GET
//! .../manifest` and `GET .../buckets` under `/v1/circles/{circle_id}`.
//! Record lists travel in `vault_core::sync`'s binary formats and are
//! decoded with its code; the storage decides every conflict and takes
//! every sequence number inside one write transaction per push; the zone's
//! other devices hear of a push (a `zone` frame) after it committed.
//! Decoding, hashing and encoding run on the blocking pool with the
//! storage call: a 16 MiB batch never stalls the async runtime.

use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Member, RecordsBody};
use crate::notify::ZoneChange;
use crate::state::AppState;
use crate::storage::{PeerBytes, PushResult, TaggedRecord};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use uuid::Uuid;
use vault_core::sync::{decode_records, encode_records, valid_zone};
use vault_proto::manifests::{ManifestQuery, ManifestResponse};
use vault_proto::media::{CHANGES_MEDIA_TYPE, RECORDS_MEDIA_TYPE};
use vault_proto::zones::{BucketsQuery, ChangesQuery, PushResponse};

/// Records in a changes page when the request names no `limit`.
pub const DEFAULT_CHANGES_PAGE: u32 = 1000;

/// The circle (the token's, else 403) and zone (a valid name, else 404)
/// of a zone route.
pub(crate) fn zone_of(
    member: &Member,
    circle: &str,
    zone: String,
) -> Result<(Uuid, String), ApiError> {
    let circle_id = member.require_circle(circle)?;
    if !valid_zone(&zone) {
        return Err(ApiError::NotFound(
            "no such zone: a zone name is 1 to 32 of [a-z0-9_-]",
        ));
    }
    Ok((circle_id, zone))
}

/// Records changed after `since`, as a changes page.
pub async fn changes(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<ChangesQuery>,
) -> Result<Response, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let since = q.since()?;
    let after = q.after;
    if let Some(a) = after
        && a < since.map_or(0, |t| t.seq)
    {
        return Err(ApiError::invalid("after: below since"));
    }
    let limits = &state.config().limits;
    let limit = q
        .limit
        .unwrap_or(DEFAULT_CHANGES_PAGE)
        .clamp(1, limits.max_changes_page);
    let max_bytes = limits.max_records_body_bytes;
    let body = state
        .db(move |s| {
            s.changes(circle_id, &zone, since, after, limit, max_bytes)
                .map(|page| page.encode())
        })
        .await?;
    Ok(([(CONTENT_TYPE, CHANGES_MEDIA_TYPE)], body).into_response())
}

/// Decodes a pushed batch and checks what the storage does not: its size,
/// distinct uuids, the writer of every record, gencounts the database can
/// hold.
fn check_batch(body: &[u8], caller: &PeerBytes, max: usize) -> Result<Vec<TaggedRecord>, ApiError> {
    let records = decode_records(body)
        .map_err(|e| ApiError::invalid(format!("undecodable record list: {e}")))?;
    if records.len() > max {
        return Err(ApiError::invalid(format!(
            "more than {max} records in one push"
        )));
    }
    let mut seen = HashSet::with_capacity(records.len());
    if !records.iter().all(|r| seen.insert(r.record.uuid())) {
        return Err(ApiError::invalid("a uuid appears twice in the batch"));
    }
    if records
        .iter()
        .any(|r| r.record.writer().as_bytes() != caller)
    {
        return Err(ApiError::Forbidden(
            "a record's writer is not the authenticated device",
        ));
    }
    if records
        .iter()
        .any(|r| i64::try_from(r.record.gencount()).is_err())
    {
        return Err(ApiError::invalid("a gencount is 2^63 or more"));
    }
    Ok(records)
}

/// Saves a batch, record by record, each against the change tag it is
/// based on.
pub async fn push(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone)): AppPath<(String, String)>,
    RecordsBody(body): RecordsBody,
) -> Result<AppJson<PushResponse>, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let max = state.config().limits.max_batch_records;
    let quotas = state.config().quotas;
    let me = member.peer;
    let name = zone.clone();
    let (response, seq, saved, conflicts) = state
        .db(move |s| {
            let records = check_batch(&body, &me, max)?;
            let reply = s.push_records(circle_id, &name, &me, &records, &quotas)?;
            let saved = reply
                .results
                .iter()
                .filter(|r| matches!(r, PushResult::Saved { .. }))
                .count() as u64;
            let conflicts = reply.results.len() as u64 - saved;
            let response = PushResponse::from(&reply);
            Ok::<_, ApiError>((response, reply.token.seq, saved, conflicts))
        })
        .await
        .inspect_err(|e| state.metrics().refused(e))?;
    state.metrics().records_pushed(saved, conflicts);
    if saved > 0 {
        state
            .notifier()
            .publish(circle_id, ZoneChange::event(&zone, seq, me));
    }
    Ok(AppJson(response))
}

/// The zone's manifest: token, root, live count, and the bucket hashes if
/// asked.
pub async fn manifest(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<ManifestQuery>,
) -> Result<AppJson<ManifestResponse>, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let buckets = q.buckets.unwrap_or(false);
    let m = state
        .db(move |s| s.zone_manifest(circle_id, &zone, buckets))
        .await?;
    Ok(AppJson(ManifestResponse::from(&m)))
}

/// The live records of the buckets named, as a record list.
pub async fn buckets(
    State(state): State<AppState>,
    member: Member,
    AppPath((circle, zone)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<BucketsQuery>,
) -> Result<Response, ApiError> {
    let (circle_id, zone) = zone_of(&member, &circle, zone)?;
    let ids = q.ids()?;
    let body = state
        .db(move |s| {
            s.bucket_records(circle_id, &zone, &ids)
                .map(|records| encode_records(&records))
        })
        .await?;
    Ok(([(CONTENT_TYPE, RECORDS_MEDIA_TYPE)], body).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vault_core::circle::PeerId;
    use vault_core::sync::{RecordParts, SealedRecord};
    use vault_proto::ErrorCode;

    fn record(n: u8, writer: PeerBytes, gencount: u64) -> TaggedRecord {
        TaggedRecord {
            tag: 0,
            record: SealedRecord::from_parts(RecordParts {
                uuid: Uuid::from_bytes([n; 16]),
                gencount,
                epoch: 1,
                tomb: false,
                circle_pos: 0,
                writer: PeerId::from_bytes(writer),
                wrappedkey: vec![n],
                encitem: vec![n],
                signature: [0; 64],
            })
            .unwrap(),
        }
    }

    #[test]
    fn batches_are_checked_before_the_storage() {
        let me = [1; 32];
        let ok = encode_records(&[record(1, me, 1), record(2, me, 1)]);
        assert_eq!(check_batch(&ok, &me, 2).unwrap().len(), 2);
        let code = |r: Result<Vec<TaggedRecord>, ApiError>| r.unwrap_err().code();
        assert_eq!(code(check_batch(&ok, &me, 1)), ErrorCode::Invalid);
        assert_eq!(
            code(check_batch(&ok[..ok.len() - 1], &me, 2)),
            ErrorCode::Invalid
        );
        let dup = encode_records(&[record(1, me, 1), record(1, me, 2)]);
        assert_eq!(code(check_batch(&dup, &me, 9)), ErrorCode::Invalid);
        let other = encode_records(&[record(1, me, 1), record(2, [2; 32], 1)]);
        assert_eq!(code(check_batch(&other, &me, 9)), ErrorCode::Forbidden);
        let huge = encode_records(&[record(1, me, 1 << 63)]);
        assert_eq!(code(check_batch(&huge, &me, 9)), ErrorCode::Invalid);
    }
}
