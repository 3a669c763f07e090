//! `vault peer ls|rm|verify`; `invite` and `join` are in `pairing`.

use super::pairing;
use super::server_session::{Session, circle_of, connect};
use super::tls_args::TlsArgs;
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::rfc3339;
use serde_json::json;
use vault_core::circle::{CircleInfo, PeerId};

/// `vault peer`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print an invite code, wait for a device to join with it, add it
    Invite {
        /// How long the code stays valid
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// Add the device without asking to compare the short authentication string
        #[arg(long, short)]
        yes: bool,
    },
    /// Join a circle with an invite code shown on one of its devices
    Join {
        /// The code `vault peer invite` printed (it carries the server's
        /// URL). Left out, it is read from standard input, or asked for on
        /// the terminal: given here, it lands in the shell's history
        code: Option<String>,
        /// This device's name as the other devices will see it [default: the host name]
        #[arg(long)]
        name: Option<String>,
        /// Join through this server of the circle's deployment (another
        /// instance on the same database) instead of the one the code
        /// names, which becomes the next server to try
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
        /// Share the items this vault already holds with the circle
        #[arg(long, conflicts_with = "discard_local")]
        merge_local: bool,
        /// Drop the items this vault already holds (never sent anywhere)
        /// and take only the circle's
        #[arg(long)]
        discard_local: bool,
    },
    /// List the circle's devices (refreshes from the server first)
    Ls {
        /// Do not ask the server; show what this device last verified
        #[arg(long)]
        offline: bool,
    },
    /// Remove a device from the circle and start a new vault key epoch
    Rm {
        /// A peer id prefix (4+ hex digits) or a device name
        peer: String,
    },
    /// Show the safety number of this device and another, to compare on both
    Verify {
        /// A peer id prefix (4+ hex digits) or a device name
        peer: String,
    },
}

pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Invite { ttl, yes } => pairing::invite(ctx, ttl, yes),
        Command::Join {
            code,
            name,
            server,
            tls,
            merge_local,
            discard_local,
        } => {
            let code = match code {
                Some(code) => code,
                None => pairing::read_code()?,
            };
            let local = match (merge_local, discard_local) {
                (true, _) => Some(pairing::LocalItems::Merge),
                (_, true) => Some(pairing::LocalItems::Discard),
                _ => None,
            };
            pairing::join(ctx, &code, name, server, &tls, local)
        }
        Command::Ls { offline } => ls(ctx, offline),
        Command::Rm { peer } => rm(ctx, &peer),
        Command::Verify { peer } => verify(ctx, &peer),
    }
}

fn ls(ctx: &Ctx, offline: bool) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    if !offline {
        vault_client::runtime()?.block_on(connect(&mut vault))?;
    }
    let info = circle_of(&vault)?;
    let peers = &info.members;
    if ctx.out.json {
        let list: Vec<_> = peers
            .iter()
            .map(|p| {
                json!({
                    "peer_id": p.peer_id.to_string(),
                    "name": p.name,
                    "added_by": (p.added_by != p.peer_id).then(|| p.added_by.to_string()),
                    "added_at": rfc3339(p.added_at.saturating_mul(1000)),
                    "this_device": p.is_me,
                })
            })
            .collect();
        ctx.out.json(&json!({
            "circle_id": info.circle_id.to_string(),
            "server": info.server_url,
            "key_epoch": vault.key_epoch(),
            "peers": list,
        }));
        return Ok(());
    }
    for p in peers {
        let by = if p.added_by == p.peer_id {
            "(founder)".to_owned()
        } else {
            display_name(&info, &p.added_by)
        };
        ctx.out.data(&format!(
            "{} {:<16} {:<20} added by {:<16} {}",
            if p.is_me { "*" } else { " " },
            p.peer_id.short(),
            p.name.as_deref().unwrap_or("?"),
            by,
            rfc3339(p.added_at.saturating_mul(1000)),
        ));
    }
    Ok(())
}

/// A current member by peer id prefix (4+ hex digits) or device name.
fn resolve(info: &CircleInfo, query: &str) -> anyhow::Result<PeerId> {
    let q = query.trim().to_ascii_lowercase();
    let peers = &info.members;
    let by_name: Vec<_> = peers
        .iter()
        .filter(|p| p.name.as_deref() == Some(query))
        .collect();
    let hits: Vec<_> = if !by_name.is_empty() {
        by_name
    } else if q.len() >= 4 && q.chars().all(|c| c.is_ascii_hexdigit()) {
        peers
            .iter()
            .filter(|p| p.peer_id.to_string().starts_with(&q))
            .collect()
    } else {
        Vec::new()
    };
    match hits.as_slice() {
        [one] => Ok(one.peer_id),
        [] => Err(CliError::no_such("peer", query).into()),
        many => Err(CliError::Ambiguous {
            what: "peer",
            advice: "give more of the peer id",
            query: query.into(),
            count: many.len(),
            list: many
                .iter()
                .map(|p| format!("{} {}", p.peer_id.short(), p.name.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
    }
}

/// A peer's name where known, else its short id.
fn display_name(info: &CircleInfo, peer: &PeerId) -> String {
    info.members
        .iter()
        .chain(&info.removed)
        .find(|m| m.peer_id == *peer)
        .and_then(|m| m.name.clone())
        .unwrap_or_else(|| peer.short())
}

fn rm(ctx: &Ctx, query: &str) -> anyhow::Result<()> {
    let mut vault = ctx.unlock()?;
    let rt = vault_client::background_runtime()?;
    let mut session = Session::new(rt.handle().clone(), circle_of(&vault)?.circle_id);
    session.connect(&mut vault)?;
    let info = circle_of(&vault)?;
    let target = resolve(&info, query)?;
    if target == vault.device().peer_id() {
        return Err(CliError::Usage(
            "this device cannot remove itself; remove it from another device".into(),
        )
        .into());
    }
    let epoch = session.remove_peer(&mut vault, &target)?;
    ctx.out.done(&format!(
        "removed {}; the vault key is now epoch {epoch}",
        target.short()
    ));
    ctx.out
        .json(&json!({ "removed": target.to_string(), "key_epoch": epoch }));
    Ok(())
}

fn verify(ctx: &Ctx, query: &str) -> anyhow::Result<()> {
    let vault = ctx.unlock()?;
    let info = circle_of(&vault)?;
    let peer = resolve(&info, query)?;
    let theirs = info
        .members
        .iter()
        .find(|p| p.peer_id == peer)
        .ok_or_else(|| CliError::no_such("peer", query))?;
    let number = vault_core::circle::safety_number(&vault.device().public(), &theirs.keys);
    let name = theirs.name.clone().unwrap_or_default();
    ctx.out.data(&format!(
        "safety number of this device and {name} ({}):\n{number}\nCompare it with `vault peer verify` on the other device.",
        peer.short()
    ));
    ctx.out.json(&json!({
        "peer_id": peer.to_string(),
        "name": name,
        "safety_number": number,
    }));
    Ok(())
}
