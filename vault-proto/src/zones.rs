//! The sync routes of a zone, `/v1/circles/{circle_id}/zones/{zone}/…`:
//! the queries of `changes` and `buckets` (change tokens as `EPOCH.SEQ`,
//! bucket id lists) and the JSON answer of a push of `records`. Record
//! lists and changes pages themselves are binary ([`crate::media`]).

use crate::codec::{DecodeError, Expected, b64, parse_token, parse_uuid, unb64, uuid_text};
use serde::{Deserialize, Serialize};
use vault_core::sync::{BUCKETS, PushReply, PushResult, Token, decode_records, encode_records};

/// `GET .../changes` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesQuery {
    /// The token to go on from, `EPOCH.SEQ` (default: the start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The seq a read that began at `since` has reached (its previous
    /// page's token seq); default `since`'s seq.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Most records in the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ChangesQuery {
    /// The query of a read that began at `since` and reached `after`.
    pub fn new(since: Token, after: u64, limit: u32) -> ChangesQuery {
        ChangesQuery {
            since: Some(since.to_text()),
            after: Some(after),
            limit: Some(limit),
        }
    }

    /// The parsed `since`.
    pub fn since(&self) -> Result<Option<Token>, DecodeError> {
        self.since
            .as_deref()
            .map(|t| parse_token("since", t))
            .transpose()
    }
}

/// `GET .../buckets` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketsQuery {
    /// Bucket ids, comma-separated decimals 0 to 255.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
}

impl BucketsQuery {
    /// The query of these buckets (1 to 256 of them, for a valid query).
    pub fn new(ids: &[u8]) -> BucketsQuery {
        let list: Vec<String> = ids.iter().map(u8::to_string).collect();
        BucketsQuery {
            ids: Some(list.join(",")),
        }
    }

    /// The bucket ids: 1 to 256 decimals from 0 to 255, comma-separated,
    /// without signs, blanks or leading zeros past three digits.
    pub fn ids(&self) -> Result<Vec<u8>, DecodeError> {
        let bad = || DecodeError::new("ids", Expected::BucketIds);
        let text = self.ids.as_deref().ok_or_else(bad)?;
        let ids = text
            .split(',')
            .map(|id| {
                if id.is_empty() || id.len() > 3 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                id.parse::<u8>().map_err(|_| bad())
            })
            .collect::<Result<Vec<u8>, DecodeError>>()?;
        if ids.len() > BUCKETS {
            return Err(bad());
        }
        Ok(ids)
    }
}

/// One record's outcome in a push answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PushResultJson {
    /// Saved at `seq` (its new change tag).
    Saved {
        /// The record's uuid, hyphenated.
        uuid: String,
        /// Its seq.
        seq: u64,
    },
    /// Not saved: the server's current record, as a one-record list
    /// (base64url), or null if it holds none.
    Conflict {
        /// The record's uuid, hyphenated.
        uuid: String,
        /// The current record, `tag` being its seq.
        current: Option<String>,
    },
}

impl From<&PushResult> for PushResultJson {
    fn from(r: &PushResult) -> Self {
        match r {
            PushResult::Saved { uuid, seq } => PushResultJson::Saved {
                uuid: uuid_text(uuid),
                seq: *seq,
            },
            PushResult::Conflict { uuid, current } => PushResultJson::Conflict {
                uuid: uuid_text(uuid),
                current: current
                    .as_deref()
                    .map(|c| b64(&encode_records(std::slice::from_ref(c)))),
            },
        }
    }
}

impl PushResultJson {
    /// The outcome, its record decoded (not verified). A conflict's
    /// `current` must be a list of exactly one record.
    pub fn decode(&self) -> Result<PushResult, DecodeError> {
        match self {
            PushResultJson::Saved { uuid, seq } => Ok(PushResult::Saved {
                uuid: parse_uuid("uuid", uuid)?,
                seq: *seq,
            }),
            PushResultJson::Conflict { uuid, current } => {
                let uuid = parse_uuid("uuid", uuid)?;
                let current = match current {
                    None => None,
                    Some(text) => {
                        let bytes = unb64("current", text)?;
                        let mut list = decode_records(&bytes)
                            .map_err(|e| DecodeError::new("current", Expected::Records(e)))?;
                        let one = list.pop().filter(|_| list.is_empty());
                        Some(Box::new(
                            one.ok_or(DecodeError::new("current", Expected::OneRecord))?,
                        ))
                    }
                };
                Ok(PushResult::Conflict { uuid, current })
            }
        }
    }
}

/// `POST .../records` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushResponse {
    /// The zone's token after the batch.
    pub token: String,
    /// One result per record, in the batch's order.
    pub results: Vec<PushResultJson>,
}

impl From<&PushReply> for PushResponse {
    fn from(reply: &PushReply) -> Self {
        PushResponse {
            token: reply.token.to_text(),
            results: reply.results.iter().map(PushResultJson::from).collect(),
        }
    }
}

impl PushResponse {
    /// The reply, every result decoded.
    pub fn decode(&self) -> Result<PushReply, DecodeError> {
        Ok(PushReply {
            token: parse_token("token", &self.token)?,
            results: self
                .results
                .iter()
                .map(PushResultJson::decode)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests;
