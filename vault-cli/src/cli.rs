//! The command line's grammar: the global flags and the list of
//! subcommands (clap). Each subcommand's own flags live next to the code
//! that runs it, in its `cmd` module: `Args` (`LsArgs`, `GenArgs`, ... where
//! a module runs several commands), or a `Command` enum of subcommands.

use crate::cmd::{
    add, circle, edit, export, get, history, import, init, keys, list, lock, peer, quarantine, rm,
    sync, totp,
};
use crate::cmd::{restore, ssh_agent};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// What `vault --help` ends with: the exit codes, then where the master
/// password comes from.
fn after_help() -> String {
    format!(
        "{}\n\
A pairing whose codes were refused, or whose other device stopped \
answering or did not join, exits with 2 (the inviter then removes the \
device it added again); an expired or unknown invite with 9.

The master password comes from the agent (vault unlock), else the first line \
of $VAULT_PASSWORD_FILE, else $VAULT_PASSWORD, else a prompt on the terminal.",
        crate::error::exit_code_table()
    )
}

const QUARANTINE: &str = "\
Records sync held aside: list them, accept or drop each.

A record is quarantined when a check fails: its signature, its writer's \
standing in the circle, its ciphertext, or a version older than the one held. \
It changes nothing here, and while any waits for a decision this device signs \
no manifest (so the server collects no tombstones). `ls` shows each with its \
writer, reason and what it would change (secret fields are named, never \
shown). `accept` makes its content this device's new version (only for a \
record that decrypts and whose only fault is its writer's standing: removed, \
or its removal's record list not yet here); `drop` supersedes it with this \
device's own version, or a tombstone. A decision is local, like an edit: the \
next `vault sync` pushes it, and the other devices take it from there.";

const SSH_AGENT: &str = "\
Serve the vault's keys to ssh over the SSH agent protocol, in the foreground.

Prints `SSH_AUTH_SOCK=...; export SSH_AUTH_SOCK;` for a shell to eval, then \
answers on that socket (mode 0600) until Ctrl-C, SIGTERM or SIGHUP, and \
removes it. Keys of class `keys` that are Ed25519 or ECDSA P-256 (PKCS#8, \
SEC1 or unencrypted OpenSSH PEM) are listed, named by their label; others \
and passkeys are left out. The vault is read afresh for each request, so new \
keys show up at once. Started while `vault unlock`'s agent runs, it follows \
that agent: after `vault lock` or its idle timeout it refuses until the next \
`vault unlock`. Otherwise it unlocks with the master password once, at the \
start, and keeps the vault's session key in memory until it stops. Adding, \
removing or locking keys through ssh-add is refused.";

// The argument structs that can carry item attributes (notes, TOTP seeds,
// custom fields) deliberately have no `Debug`, so no debug print can leak
// them.

/// A local-first credential vault.
#[derive(Parser)]
#[command(name = "vault", version, after_help = after_help())]
// A one-paragraph doc comment sets no long about: without this, `--help`
// would drop the period and switch to the compact layout of `-h`.
#[command(long_about = "A local-first credential vault.")]
pub struct Cli {
    /// The vault file [default: $VAULT_PATH, else the platform data dir]
    #[arg(long, global = true, env = "VAULT_PATH", value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only what was asked for (no notices)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a vault (the password is asked twice on a terminal)
    Init(init::Args),
    /// Add an item
    #[command(subcommand)]
    Add(add::Command),
    /// Print one item's password, or another field
    Get(get::Args),
    /// List items (no secrets)
    Ls(list::LsArgs),
    /// Substring search over non-secret attributes
    Search(list::SearchArgs),
    /// Change an item's fields; the old version goes to history
    Edit(edit::Args),
    /// Delete an item
    Rm(rm::Args),
    /// An item's earlier versions
    #[command(long_about = history::LONG_ABOUT)]
    History(history::Args),
    /// Bring back an earlier version of an item (a gen `vault history` lists) as a new version
    #[command(long_about = restore::LONG_ABOUT)]
    Restore(restore::Args),
    /// The item's current TOTP code (RFC 6238) and the seconds it stays valid
    Totp(totp::Args),
    /// Generate a password (or a passphrase with --words)
    Gen(keys::GenArgs),
    /// Change the master password
    Passwd(keys::PasswdArgs),
    /// Rotate the vault key (every item's key re-wrapped)
    Rotate,
    /// Export every item (encrypted unless --plaintext)
    Export(export::Args),
    /// Import another password manager's export
    Import(import::Args),
    /// Start the agent: later commands need no password until the idle timeout
    Unlock(lock::UnlockArgs),
    /// Stop the agent: the next command asks for the password again
    Lock,
    /// Path, lock state, item counts, KDF and key epoch
    Status,
    /// Sync with the circle's server: pull, merge, push, verify
    Sync(sync::Args),
    /// The trusted circle of devices that share this vault
    #[command(subcommand)]
    Circle(circle::Command),
    /// Devices of the circle: invite, join, list, remove, verify
    #[command(subcommand)]
    Peer(peer::Command),
    /// Records sync held aside: list them, accept or drop each
    #[command(subcommand, long_about = QUARANTINE)]
    Quarantine(quarantine::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(crate::cmd::completions::Args),
    /// The clipboard helper (started by `vault get -c` and `vault totp -c`)
    #[command(name = "__clip", hide = true)]
    Clip {
        #[arg(long)]
        seconds: u64,
    },
    /// Serve the vault's ed25519 and P-256 keys to ssh (foreground)
    #[command(long_about = SSH_AGENT)]
    SshAgent(ssh_agent::Args),
    /// The agent process itself (started by `vault unlock`)
    #[command(name = "__agent", hide = true)]
    Agent {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        vault_file: PathBuf,
        #[arg(long, value_parser = lock::parse_timeout)]
        timeout: std::time::Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::add::parse_field;
    use crate::cmd::lock::parse_timeout;
    use clap::CommandFactory;

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeouts_and_fields_parse() {
        assert_eq!(parse_timeout("15m").unwrap().as_secs(), 900);
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("soon").is_err());
        assert_eq!(
            parse_field("pin=12=34").unwrap(),
            ("pin".into(), "12=34".into())
        );
        assert!(parse_field("=x").is_err());
    }
}
