//! What the benches share besides a circle: flags, times in ms,
//! percentiles, and records and pushes of pre-built records.
// Each bench uses part of it.
#![allow(dead_code)]

use anyhow::{Context, bail};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;
use vault_core::crypto::DeviceIdentity;
use vault_core::sync::{RecordParts, SealedRecord, TaggedRecord, encode_records};

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => Ok(default),
    }
}

/// A duration in ms, to two decimals.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// The `p` quantile of sorted durations, in ms (0 when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| ms(*d))
}

/// A new record by `writer` (a fresh uuid; 60 + 300 bytes of ciphertext
/// that vary with `n`; any signature: the server does not check them).
pub fn record(writer: &DeviceIdentity, n: u64) -> TaggedRecord {
    TaggedRecord {
        tag: 0,
        record: SealedRecord::from_parts(RecordParts {
            uuid: Uuid::new_v4(),
            gencount: 1,
            epoch: 1,
            tomb: false,
            circle_pos: 0,
            writer: writer.peer_id(),
            wrappedkey: vec![n as u8; 60],
            encitem: vec![(n >> 8) as u8; 300],
            signature: [0x5a; 64],
        })
        .expect("60- and 300-byte blobs are within a record's limits"),
    }
}

/// `POST …/records` with `records`; the answer's JSON.
pub async fn push(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    records: &[TaggedRecord],
) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/vnd.vault.records")
        .body(encode_records(records))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("push: {status} {v}");
    }
    Ok(v)
}
