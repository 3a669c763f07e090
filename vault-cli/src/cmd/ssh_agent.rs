//! `vault ssh-agent`: serves the vault's Ed25519 and P-256 keys to `ssh`
//! in the foreground until it is stopped (Ctrl-C, SIGTERM, SIGHUP).

use crate::context::Ctx;
use crate::sshagent::{AgentSocket, VaultAgent, VaultSource};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

/// `vault ssh-agent`'s flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen here [default: a fresh private directory under
    /// $XDG_RUNTIME_DIR, else the temp dir]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Ask on the terminal before each signature (no terminal: refuse)
    #[arg(long)]
    pub confirm: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    // Like the vault's own agent: no core dumps, no ptrace; keys and the
    // session key pass through this process's memory.
    crate::agent::server::harden();
    // Unlock first: a locked vault fails before any socket exists.
    let source = VaultSource::start(ctx)?;
    let count = source.keys()?.len();
    let follows_agent = source.follows_agent();
    let mut socket = AgentSocket::bind(args.socket)?;
    let listener = socket
        .take_listener()
        .context("the socket has no listener")?;
    let path = socket.path().to_string_lossy().into_owned();
    ctx.out.data(&format!(
        "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;",
        sh_quote(&path)
    ));
    ctx.out.json(&json!({
        "socket": path,
        "pid": std::process::id(),
        "keys": count,
    }));
    ctx.out.note(&format!(
        "vault ssh-agent: serving {count} key(s) on {path}{}; Ctrl-C stops",
        if follows_agent {
            " while the vault stays unlocked"
        } else {
            ""
        }
    ));
    let agent = VaultAgent::new(source, args.confirm, ctx.out);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        listener
            .set_nonblocking(true)
            .context("cannot make the socket non-blocking")?;
        let listener =
            tokio::net::UnixListener::from_std(listener).context("cannot register the socket")?;
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        tokio::select! {
            r = ssh_agent_lib::agent::listen(listener, agent) => {
                r.context("the SSH agent stopped listening")
            }
            _ = term.recv() => Ok(()),
            _ = int.recv() => Ok(()),
            _ = hup.recv() => Ok(()),
        }
    });
    // Connections still open are dropped with the runtime; then the
    // socket (and its directory) goes.
    drop(runtime);
    drop(socket);
    ctx.out.note("vault ssh-agent: stopped");
    served
}

/// `s` as one shell word: as is when it is plainly safe, else in single
/// quotes.
fn sh_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn socket_paths_are_quoted_for_the_shell() {
        assert_eq!(
            sh_quote("/run/user/1000/vault-ssh-ab/agent.sock"),
            "/run/user/1000/vault-ssh-ab/agent.sock"
        );
        assert_eq!(sh_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(sh_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
