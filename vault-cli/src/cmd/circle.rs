//! `vault circle`: `create` (the genesis of a circle, registered on a
//! server), `trust` (how its server is authenticated) and `servers` (the
//! deployment's servers this device tries, in order).

use super::server_session::{circle_of, device_name};
use super::tls_args::{TlsArgs, read_ca};
use crate::context::Ctx;
use crate::error::CliError;
use serde_json::json;
use std::path::PathBuf;
use vault_client::Server;

/// `vault circle`'s subcommands (no `Debug`: `create` carries a
/// registration token).
#[derive(clap::Subcommand)]
pub enum Command {
    /// Start a circle with this device as its first member, on a sync server
    Create {
        /// The sync server, e.g. https://vault.example:8625 (http:// only to a loopback address)
        #[arg(long, value_name = "URL")]
        server: String,
        /// This device's name as the other devices will see it [default: the host name]
        #[arg(long)]
        name: Option<String>,
        /// The registration token the server's admin gave you (servers that
        /// register circles by token; see `vault-server admin token create`)
        #[arg(
            long,
            value_name = "TOKEN",
            env = "VAULT_REGISTRATION_TOKEN",
            hide_env_values = true
        )]
        registration_token: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Change how this device authenticates the circle's server
    Trust {
        /// Verify the server against this CA's certificate (PEM) from now on
        #[arg(long, value_name = "FILE", conflicts_with = "system")]
        ca_file: Option<PathBuf>,
        /// Verify the server against the system trust store (forget the CA file)
        #[arg(long)]
        system: bool,
        /// Forget the certificate pin the invite code carried
        #[arg(long)]
        forget_pin: bool,
        /// Allow plain http:// to a non-loopback server (tokens cross the network unencrypted)
        #[arg(long, conflicts_with = "deny_insecure_http")]
        allow_insecure_http: bool,
        /// Allow plain http:// only to loopback again
        #[arg(long)]
        deny_insecure_http: bool,
    },
    /// The circle's servers: this device uses the first that answers and
    /// moves on to the next when one stops answering (several instances of
    /// one deployment; with a load balancer in front, list only it)
    #[command(subcommand)]
    Servers(Servers),
}

/// `vault circle servers`' subcommands.
#[derive(clap::Subcommand)]
pub enum Servers {
    /// Add a server of the same deployment (same database, same TLS
    /// trust: the circle's CA file or system store, or pinned certificate)
    Add {
        /// Its URL, e.g. https://vault2.example:8625
        url: String,
        /// Try it before the others
        #[arg(long)]
        first: bool,
    },
    /// Remove a server (the last one stays)
    Rm {
        /// Its URL, as `ls` shows it
        url: String,
    },
    /// List the servers, in the order they are tried
    Ls,
}

pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create {
            server,
            name,
            registration_token,
            tls,
        } => create(ctx, &server, name, registration_token.as_deref(), &tls),
        Command::Trust {
            ca_file,
            system,
            forget_pin,
            allow_insecure_http,
            deny_insecure_http,
        } => {
            let mut vault = ctx.unlock()?;
            let info = circle_of(&vault)?;
            let mut trust = info.trust;
            if let Some(path) = ca_file {
                trust.ca_pem = Some(read_ca(&path)?);
            }
            if system {
                trust.ca_pem = None;
            }
            if forget_pin {
                trust.cert_pin = None;
            }
            if allow_insecure_http {
                trust.allow_insecure_http = true;
            }
            if deny_insecure_http {
                trust.allow_insecure_http = false;
            }
            // Checked as a connection would use it (the CA parses, the URL
            // is allowed): a trust no command could use is not stored.
            Server::new(&info.server_url, &trust).map_err(|e| CliError::Usage(e.to_string()))?;
            vault.set_server_trust(&trust)?;
            ctx.out.note(&trust_summary(&trust));
            ctx.out.json(&json!({
                "ca": trust.ca_pem.is_some(),
                "cert_pin": trust.cert_pin.is_some(),
                "allow_insecure_http": trust.allow_insecure_http,
            }));
            Ok(())
        }
        Command::Servers(cmd) => servers(ctx, cmd),
    }
}

/// `vault circle servers add|rm|ls`.
fn servers(ctx: &Ctx, cmd: Servers) -> anyhow::Result<()> {
    if let Servers::Ls = cmd {
        // No password: the list is not secret.
        let info = ctx.open()?.info()?;
        let circle = info.circle.ok_or_else(super::server_session::no_circle)?;
        for url in &circle.servers {
            ctx.out.data(url);
        }
        ctx.out.json(&json!({ "servers": circle.servers }));
        return Ok(());
    }
    let mut vault = ctx.unlock()?;
    let info = circle_of(&vault)?;
    let mut list = info.servers.clone();
    match cmd {
        Servers::Add { url, first } => {
            // Checked as a connection would use it, with the circle's trust.
            let server =
                Server::new(&url, &info.trust).map_err(|e| CliError::Usage(e.to_string()))?;
            let url = server.url().to_owned();
            if list.contains(&url) {
                return Err(CliError::Usage(format!("{url} is already listed")).into());
            }
            if first {
                list.insert(0, url);
            } else {
                list.push(url);
            }
        }
        Servers::Rm { url } => {
            let url = url.trim_end_matches('/');
            let Some(at) = list.iter().position(|s| s == url) else {
                return Err(CliError::Usage(format!(
                    "{url} is not listed (see `vault circle servers ls`)"
                ))
                .into());
            };
            if list.len() == 1 {
                return Err(CliError::Usage(
                    "a circle needs a server: add another before removing this one".into(),
                )
                .into());
            }
            list.remove(at);
        }
        Servers::Ls => unreachable!("answered above"),
    }
    vault.set_circle_servers(&list)?;
    for url in &list {
        ctx.out.data(url);
    }
    ctx.out.json(&json!({ "servers": list }));
    Ok(())
}

/// How the server is authenticated, in a line.
pub fn trust_summary(trust: &vault_core::circle::ServerTrust) -> String {
    let anchor = if trust.ca_pem.is_some() {
        "the circle's CA file"
    } else {
        "the system trust store"
    };
    let pin = if trust.cert_pin.is_some() {
        ", or the certificate the invite pinned"
    } else {
        ""
    };
    let http = if trust.allow_insecure_http {
        "; plain http to any address is ALLOWED (tokens cross the network unencrypted)"
    } else {
        ""
    };
    format!("the server is verified against {anchor}{pin}{http}")
}

fn create(
    ctx: &Ctx,
    url: &str,
    name: Option<String>,
    registration_token: Option<&str>,
    tls: &TlsArgs,
) -> anyhow::Result<()> {
    let trust = tls.trust(None)?;
    let server = Server::new(url, &trust).map_err(|e| CliError::Usage(e.to_string()))?;
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
    vault_client::runtime()?.block_on(server.register_circle(&genesis, registration_token))?;
    vault.create_circle(server.url(), &trust, &genesis)?;
    let circle_id = genesis.entry().circle_id;
    let me = vault.device().peer_id();
    ctx.out.done(&format!(
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
