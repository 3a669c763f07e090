//! `vault quarantine`: the records sync held aside, and a person's
//! decision on each: `ls` (why, and what each would change where it
//! decrypts; secrets only named), `accept UUID` (this device re-signs the
//! content as its own new version) and `drop UUID` (this device's version,
//! or a tombstone, supersedes it). A decision is a local write like an
//! edit: the next `vault sync` pushes it.

use crate::context::Ctx;
use crate::error::CliError;
use crate::itemjson::class_name;
use crate::output::rfc3339;
use serde_json::{Value, json};
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::sync::{Decided, Effect, Preview, QuarantineEntry, RecordError};

/// `vault quarantine`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The records waiting for a decision: writer, reason, when, and what
    /// each would change where it decrypts (secrets named, never shown)
    Ls {
        /// Also the records decided on already
        #[arg(long)]
        all: bool,
    },
    /// Accept a record: this device re-signs its content as a new version
    /// every peer takes (only a record that decrypts and whose only fault
    /// is its writer's standing in the circle); pushed at the next `vault
    /// sync`
    Accept {
        /// The item's uuid (or a unique prefix of it)
        uuid: String,
    },
    /// Drop a record: this device's own version, or a tombstone where it
    /// holds none, supersedes it; pushed at the next `vault sync`
    Drop {
        /// The item's uuid (or a unique prefix of it)
        uuid: String,
    },
}

pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    match command {
        Command::Ls { all } => ls(ctx, &mut vault, all),
        Command::Accept { uuid } => {
            let uuid = resolve(&mut vault, &uuid)?;
            let done = vault.quarantine_accept(uuid)?;
            decided(ctx, &done);
            Ok(())
        }
        Command::Drop { uuid } => {
            let uuid = resolve(&mut vault, &uuid)?;
            let done = vault.quarantine_drop(uuid)?;
            decided(ctx, &done);
            Ok(())
        }
    }
}

fn ls(ctx: &Ctx, vault: &mut UnlockedVault, all: bool) -> anyhow::Result<()> {
    let list: Vec<QuarantineEntry> = vault
        .quarantine_list()?
        .into_iter()
        .filter(|e| all || e.decision.is_none())
        .collect();
    ctx.out
        .json(&Value::Array(list.iter().map(entry_json).collect()));
    if list.is_empty() {
        ctx.out.data("nothing in quarantine");
    }
    for e in &list {
        let state = e.decision.map_or("undecided", |d| d.as_str());
        ctx.out.data(&format!(
            "{} gencount {} from {} at {} ({state})\n    reason: {}",
            e.uuid,
            e.gencount,
            e.writer.short(),
            rfc3339(e.at_ms),
            e.reason
        ));
        match &e.preview {
            Some(p) => ctx.out.data(&format!("    {}", preview_line(p))),
            None => ctx.out.data("    does not decrypt here"),
        }
        if e.decision.is_none() {
            match e.refusal() {
                Some(f) => ctx
                    .out
                    .data(&format!("    cannot be accepted ({f}); can be dropped")),
                None if e.preview.is_some() => ctx.out.data("    can be accepted or dropped"),
                None => ctx.out.data("    can be dropped"),
            }
        }
    }
    Ok(())
}

/// `changes inet mail.example (alice): server "a" -> "b", password`.
fn preview_line(p: &Preview) -> String {
    let verb = match p.effect {
        Effect::Adds => "adds",
        Effect::Changes => "changes",
        Effect::Deletes => "deletes",
    };
    let mut line = format!("{verb} {} {}", class_name(p.class), p.name);
    if !p.account.is_empty() {
        line.push_str(&format!(" ({})", p.account));
    }
    let fields: Vec<String> = p
        .changes
        .iter()
        .map(|c| match &c.values {
            Some((before, after)) => format!("{} {before:?} -> {after:?}", c.field),
            None => c.field.to_owned(),
        })
        .collect();
    if !fields.is_empty() {
        line.push_str(": ");
        line.push_str(&fields.join(", "));
    }
    line
}

fn entry_json(e: &QuarantineEntry) -> Value {
    json!({
        "uuid": e.uuid.to_string(),
        "gencount": e.gencount,
        "seq": e.seq,
        "writer": e.writer.to_string(),
        "reason": e.reason,
        "faults": e.faults.iter().map(|f| json!({
            "code": fault_code(f),
            "message": f.to_string(),
        })).collect::<Vec<_>>(),
        "at_ms": e.at_ms,
        "at": rfc3339(e.at_ms),
        "decision": e.decision.map(|d| d.as_str()),
        "acceptable": e.acceptable(),
        "preview": e.preview.as_ref().map(preview_json),
    })
}

fn preview_json(p: &Preview) -> Value {
    json!({
        "class": class_name(p.class),
        "effect": match p.effect {
            Effect::Adds => "adds",
            Effect::Changes => "changes",
            Effect::Deletes => "deletes",
        },
        "name": p.name,
        "account": p.account,
        "label": p.label,
        "modified_ms": p.modified_ms,
        "changes": p.changes.iter().map(|c| match &c.values {
            Some((before, after)) => json!({
                "field": c.field, "shown": true, "before": before, "after": after,
            }),
            None => json!({ "field": c.field, "shown": false }),
        }).collect::<Vec<_>>(),
    })
}

/// A stable name for each fault, for scripts.
fn fault_code(f: &RecordError) -> &'static str {
    match f {
        RecordError::UnknownWriter(_) => "unknown_writer",
        RecordError::NotMemberAt { .. } => "not_member_at",
        RecordError::RemovedWriter(_) => "removed_writer",
        RecordError::AfterRemoval(_) => "after_removal",
        RecordError::CutListMissing(_) => "cut_list_missing",
        RecordError::BadSignature => "bad_signature",
        RecordError::UnknownEpoch(_) => "unknown_epoch",
        RecordError::Decrypt(_) => "decrypt",
        RecordError::ClassMismatch { .. } => "class_mismatch",
        RecordError::TombstoneMismatch => "tombstone_mismatch",
        RecordError::Rollback { .. } => "rollback",
    }
}

fn decided(ctx: &Ctx, d: &Decided) {
    let what = if d.tomb {
        "a tombstone"
    } else {
        "this device's version"
    };
    ctx.out.done(&format!(
        "{} {}: {what} (gencount {}) is pushed at the next `vault sync`",
        d.decision, d.uuid, d.gencount
    ));
    ctx.out.json(&json!({
        "uuid": d.uuid.to_string(),
        "decision": d.decision.as_str(),
        "gencount": d.gencount,
        "tomb": d.tomb,
        "records": d.records,
        "pending": true,
    }));
}

/// The quarantined uuid `query` names: the uuid itself, or the only one
/// that starts with these hex digits (dashes ignored).
fn resolve(vault: &mut UnlockedVault, query: &str) -> anyhow::Result<Uuid> {
    if let Ok(uuid) = Uuid::parse_str(query) {
        return Ok(uuid);
    }
    let digits: String = query
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::Usage(format!("{query:?} is not a uuid or a prefix of one")).into());
    }
    let mut hits: Vec<(Uuid, bool)> = Vec::new();
    for e in vault.quarantine_list()? {
        if e.uuid.simple().to_string().starts_with(&digits) {
            match hits.iter_mut().find(|(u, _)| *u == e.uuid) {
                Some(hit) => hit.1 |= e.decision.is_none(),
                None => hits.push((e.uuid, e.decision.is_none())),
            }
        }
    }
    // Undecided records first: a prefix that names one of them and
    // records decided on already names the one waiting.
    if hits.iter().any(|(_, undecided)| *undecided) {
        hits.retain(|(_, undecided)| *undecided);
    }
    match hits.as_slice() {
        [] => Err(CliError::no_such("quarantined record", query).into()),
        [(uuid, _)] => Ok(*uuid),
        many => Err(CliError::Ambiguous {
            what: "record",
            advice: "give more of the uuid",
            query: query.to_owned(),
            count: many.len(),
            list: many
                .iter()
                .map(|(u, _)| u.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
    }
}
