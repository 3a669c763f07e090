//! `vault status`: what a person checks first. Needs no password.

use crate::agent;
use crate::context::Ctx;
use crate::output::rfc3339;
use serde_json::json;

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let info = ctx.open()?.info()?;
    let agent = agent::client::status(&ctx.path)?;
    let [inet, genp, keys] = info.counts;
    if ctx.out.json {
        ctx.out.json(&json!({
            "path": std::fs::canonicalize(&ctx.path)?,
            "vault_id": info.vault_id.to_string(),
            "locked": agent.is_none(),
            "agent": agent.map(|a| json!({ "pid": a.pid, "idle_left_secs": a.idle_left_secs })),
            "items": { "inet": inet, "genp": genp, "key": keys, "total": inet + genp + keys },
            "kdf": "pbkdf2-sha256",
            "kdf_iterations": info.kdf_iterations,
            "key_epoch": info.key_epoch,
            "circle": info.circle.as_ref().map(|c| json!({
                "circle_id": c.circle_id.to_string(),
                "server": c.server_url,
                "servers": c.servers,
                "insecure_http": c.insecure_http,
                "peer_id": c.peer_id.to_string(),
                "members": c.members,
                "log_head": c.head_seq,
            })),
            "sync": {
                "pending": info.sync.pending,
                "last_sync_ms": info.sync.last_sync_ms,
                "token": info.sync.token.to_text(),
                "quarantined": info.sync.quarantined,
                "divergence_ms": info.sync.divergence_ms,
            },
        }));
        return Ok(());
    }
    let lock_line = match agent {
        Some(a) => format!(
            "unlocked (agent pid {}, locks in {})",
            a.pid,
            humantime::format_duration(std::time::Duration::from_secs(a.idle_left_secs))
        ),
        None => "locked".to_owned(),
    };
    let circle_line = match &info.circle {
        Some(c) => format!(
            "{} on {} ({} devices; this one {}){}",
            c.circle_id,
            c.servers.join(", then "),
            c.members,
            c.peer_id.short(),
            if c.insecure_http {
                "\n           warning: plain http to any address is allowed \
                 (--allow-insecure-http): tokens cross the network unencrypted"
            } else {
                ""
            }
        ),
        None => "none (`vault circle create --server URL` or `vault peer join CODE`)".into(),
    };
    let lines = [
        format!("vault:     {}", std::fs::canonicalize(&ctx.path)?.display()),
        format!("state:     {lock_line}"),
        format!(
            "items:     {} ({inet} inet, {genp} genp, {keys} key)",
            inet + genp + keys
        ),
        format!(
            "kdf:       PBKDF2-HMAC-SHA256, {} iterations",
            info.kdf_iterations
        ),
        format!("key epoch: {}", info.key_epoch),
        format!("circle:    {circle_line}"),
        format!("sync:      {}", sync_line(&info.sync)),
    ];
    ctx.out.data(&lines.join("\n"));
    if let Some(at) = info.sync.divergence_ms {
        eprintln!(
            "vault: warning: {} (reported at {}; no sync has cleared it since)",
            crate::cmd::round::DIVERGENCE_WARNING,
            rfc3339(at)
        );
    }
    Ok(())
}

/// `3 changes waiting; last sync 2026-…Z; 0 quarantined`.
fn sync_line(s: &vault_core::sync::SyncStatus) -> String {
    let waiting = match s.pending {
        1 => "1 change waiting".to_owned(),
        n => format!("{n} changes waiting"),
    };
    let last = s.last_sync_ms.map_or_else(|| "never".to_owned(), rfc3339);
    format!("{waiting}; last sync {last}; {} quarantined", s.quarantined)
}
