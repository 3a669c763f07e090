//! `vault unlock` and `vault lock`: start and stop the agent.

use crate::agent;
use crate::context::Ctx;
use serde_json::json;
use std::time::Duration;

/// `vault unlock`'s flags.
#[derive(clap::Args)]
pub struct UnlockArgs {
    /// Idle time after which the agent forgets the key and exits
    #[arg(long, default_value = "15m", value_parser = parse_timeout)]
    timeout: Duration,
}

/// An agent's idle timeout (also `__agent --timeout`): 1s to 7 days.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(7 * 24 * 3600) {
        return Err("between 1s and 7 days".to_owned());
    }
    Ok(d)
}

pub fn unlock(ctx: &Ctx, args: UnlockArgs) -> anyhow::Result<()> {
    let timeout = args.timeout;
    let vault = ctx.unlock()?;
    let key = vault.session_key();
    drop(vault);
    let canonical = ctx.canonical_path()?;
    let socket = agent::paths::socket_path(&canonical);
    agent::paths::ensure_private_dir(socket.parent().unwrap_or(&socket))?;
    // A running agent is replaced, so the new timeout holds.
    agent::client::lock(&canonical)?;
    let pid = agent::server::spawn(&socket, &canonical, &key, timeout)?;
    let t = humantime::format_duration(timeout);
    ctx.out.done(&format!(
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
    ctx.out.done(if stopped {
        "locked"
    } else {
        "no agent was running"
    });
    ctx.out
        .json(&json!({ "locked": true, "agent_was_running": stopped }));
    Ok(())
}
