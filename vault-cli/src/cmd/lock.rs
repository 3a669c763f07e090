//! `vault unlock` and `vault lock`: start and stop the agent.

use crate::agent;
use crate::context::Ctx;
use serde_json::json;
use std::time::Duration;

pub fn unlock(ctx: &Ctx, timeout: Duration) -> anyhow::Result<()> {
    let vault = ctx.unlock()?;
    let key = vault.session_key();
    drop(vault);
    let canonical = ctx.canonical_path()?;
    let socket = agent::paths::socket_path(&canonical);
    agent::paths::ensure_private_dir(socket.parent().unwrap_or(&socket))?;
    // A running agent is replaced, so the new timeout holds.
    agent::client::lock(&canonical)?;
    let pid = agent::server::spawn(&socket, &key, timeout)?;
    let t = humantime::format_duration(timeout);
    ctx.out.data(&format!(
        "unlocked; the agent (pid {pid}) locks after {t} idle"
    ));
    ctx.out.json(&json!({
        "unlocked": true,
        "pid": pid,
        "timeout_secs": timeout.as_secs(),
        "socket": socket,
    }));
    Ok(())
}

pub fn lock(ctx: &Ctx) -> anyhow::Result<()> {
    let stopped = agent::client::lock(&ctx.path)?;
    ctx.out.data(if stopped {
        "locked"
    } else {
        "no agent was running"
    });
    ctx.out
        .json(&json!({ "locked": true, "agent_was_running": stopped }));
    Ok(())
}
