//! `vault circle create`: the genesis of a circle, registered on a server.

use super::server_session::device_name;
use crate::context::Ctx;
use crate::error::CliError;
use crate::remote::{self, Server};
use serde_json::json;

/// `vault circle`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Start a circle with this device as its first member, on a sync server
    Create {
        /// The sync server, e.g. http://127.0.0.1:8625
        #[arg(long, value_name = "URL")]
        server: String,
        /// This device's name as the other devices will see it [default: the host name]
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create { server, name } => create(ctx, &server, name),
    }
}

fn create(ctx: &Ctx, url: &str, name: Option<String>) -> anyhow::Result<()> {
    let server = Server::new(url).map_err(|e| CliError::Usage(e.to_string()))?;
    let name = device_name(name)?;
    let mut vault = ctx.unlock()?;
    if vault.circle()?.is_some() {
        return Err(CliError::Usage(
            "this vault is already in a circle (see `vault peer ls`)".into(),
        )
        .into());
    }
    let genesis = vault.prepare_genesis(&name)?;
    // The server first: if it refuses, nothing changed locally.
    remote::runtime()?.block_on(server.register_circle(&genesis))?;
    vault.create_circle(server.url(), &genesis)?;
    let circle_id = genesis.entry().circle_id;
    let me = vault.device().peer_id();
    ctx.out.data(&format!(
        "created circle {circle_id} on {}\nthis device: {} ({me})",
        server.url(),
        name
    ));
    ctx.out.json(&json!({
        "circle_id": circle_id.to_string(),
        "server": server.url(),
        "peer_id": me.to_string(),
        "name": name,
    }));
    Ok(())
}
