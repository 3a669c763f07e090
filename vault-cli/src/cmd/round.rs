//! What a sync round reports to a person: its summary line (naming the
//! items whose fields conflicted) or its JSON object, and the warnings on
//! stderr for quarantined, dropped and rolled-back records, a restored
//! server and possible duplicates. Shared by `sync` and `watch`.

use crate::output::Out;
use serde_json::{Value, json};
use vault_client::Outcome;
use vault_core::UnlockedVault;
use vault_core::sync::Quarantined;

/// What `vault sync` and `vault status` say when the server reported that
/// devices disagree about the zone.
pub const DIVERGENCE_WARNING: &str = "the server reports that another device of this circle \
    signed a different state of the vault at the same point: the devices disagree. Run `vault \
    sync` on every device; if this stays, the server may be serving devices different data: \
    tell its admin and compare `vault peer verify` on each device";

/// A refused record as the round's JSON lists it (quarantined, dropped or
/// rolled back): its uuid, version, writer and why.
fn record_json(q: &Quarantined) -> Value {
    json!({
        "uuid": q.uuid.to_string(),
        "gencount": q.gencount,
        "writer": q.writer.to_string(),
        "reason": q.reason.to_string(),
    })
}

/// A round's JSON: counts, quarantine, duplicates, token and wire cost.
pub fn round_json(o: &Outcome, at_ms: Option<i64>, conflicted: &[Conflicted]) -> Value {
    let r = &o.report;
    let quarantine: Vec<Value> = r.quarantined.iter().map(record_json).collect();
    let duplicates: Vec<Value> = r
        .duplicates
        .iter()
        .map(|(a, b)| json!([a.to_string(), b.to_string()]))
        .collect();
    let mut v = json!({
        "pulled": r.pulled,
        "pushed": r.pushed,
        "merged": r.merged,
        "conflicts": r.conflicts,
        "conflicted": conflicted.iter().map(|c| json!({
            "uuid": c.uuid.to_string(),
            "item": c.item,
            "fields": c.fields,
        })).collect::<Vec<_>>(),
        "quarantined": r.quarantined.len(),
        "quarantine": quarantine,
        "dropped": r.dropped.iter().map(record_json).collect::<Vec<_>>(),
        "duplicates": duplicates,
        "restored": r.restored.map(|x| json!({
            "from_epoch": x.from_epoch,
            "to_epoch": x.to_epoch,
            "reuploaded": x.reuploaded,
        })),
        "rolled_back": r.rolled_back.iter().map(record_json).collect::<Vec<_>>(),
        "token": r.token.to_text(),
        "divergence": o.stats.divergence,
        "requests": o.stats.requests,
        "records_received": r.records_received,
        "bytes_received": o.stats.bytes_received,
        "elapsed_ms": (o.elapsed.as_secs_f64() * 1e6).round() / 1e3,
    });
    if let (Some(at), Some(map)) = (at_ms, v.as_object_mut()) {
        map.insert("at_ms".into(), at.into());
    }
    v
}

/// An item a round merged with conflicting fields, named for a person.
pub struct Conflicted {
    /// The item.
    pub uuid: uuid::Uuid,
    /// Its short id, class, name and account.
    pub item: String,
    /// The fields both sides changed.
    pub fields: Vec<String>,
}

/// Prints a round: its line (or JSON object), then one warning on stderr
/// per quarantined record and per possible duplicate, a one-time notice
/// per record dropped past a removal's cut, and what a restored server
/// made this device upload again.
pub fn print_round(out: Out, vault: &mut UnlockedVault, o: &Outcome, at_ms: Option<i64>) {
    let r = &o.report;
    let conflicted: Vec<Conflicted> = r
        .conflicted
        .iter()
        .map(|(uuid, fields)| Conflicted {
            uuid: *uuid,
            item: vault
                .get(*uuid)
                .map_or_else(|_| uuid.to_string(), |i| crate::query::short(&i)),
            fields: fields.clone(),
        })
        .collect();
    let mut line = format!(
        "synced: pulled {}, pushed {}, merged {}, conflicts {}, quarantined {}",
        r.pulled,
        r.pushed,
        r.merged,
        r.conflicts,
        r.quarantined.len()
    );
    if !conflicted.is_empty() {
        let named: Vec<String> = conflicted
            .iter()
            .map(|c| format!("{} ({})", c.item, c.fields.join(", ")))
            .collect();
        line.push_str(&format!(
            "\nconflicts in: {}; the losing values are in `vault history`",
            named.join("; ")
        ));
    }
    out.done(&line);
    out.json(&round_json(o, at_ms, &conflicted));
    for q in &r.quarantined {
        eprintln!(
            "vault: warning: quarantined record {} from {}: {} (decide with `vault quarantine`)",
            q.uuid,
            q.writer.short(),
            q.reason
        );
    }
    if let Some(x) = r.restored {
        eprintln!(
            "vault: the server was restored from a backup (zone epoch {} -> {}): this device uploaded again the {} version(s) it lacked or held older; nothing was lost",
            x.from_epoch, x.to_epoch, x.reuploaded
        );
    }
    for q in &r.rolled_back {
        eprintln!(
            "vault: warning: the server served an older version of {} ({}); kept this device's and uploaded it again",
            q.uuid, q.reason
        );
    }
    for q in &r.dropped {
        eprintln!(
            "vault: notice: dropped record {} from {}: {} (it was written after the removal; nothing to do)",
            q.uuid,
            q.writer.short(),
            q.reason
        );
    }
    if o.stats.divergence {
        eprintln!("vault: warning: {DIVERGENCE_WARNING}");
    }
    for (a, b) in &r.duplicates {
        eprintln!(
            "vault: warning: items {a} and {b} look like duplicates (same account, created on two devices)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vault_client::Stats;
    use vault_core::sync::{SyncReport, Token};

    #[test]
    fn the_json_has_every_field() {
        let o = Outcome {
            report: SyncReport {
                pulled: 2,
                token: Token { epoch: 1, seq: 9 },
                records_received: 2,
                ..SyncReport::default()
            },
            stats: Stats {
                requests: 4,
                bytes_received: 900,
                reconnects: 0,
                divergence: false,
            },
            elapsed: Duration::from_micros(12_345),
        };
        let v = round_json(&o, Some(5), &[]);
        for key in [
            "pulled",
            "pushed",
            "merged",
            "conflicts",
            "quarantined",
            "quarantine",
            "duplicates",
            "token",
            "divergence",
            "requests",
            "records_received",
            "bytes_received",
            "elapsed_ms",
            "at_ms",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        assert_eq!(v["token"], "1.9");
        assert_eq!(v["requests"], 4);
        assert_eq!(v["divergence"], false);
        assert_eq!(v["elapsed_ms"], 12.345);
        assert!(round_json(&o, None, &[]).get("at_ms").is_none());
    }
}
