//! One module per subcommand (each with its clap arguments), plus
//! `server_session`, the server plumbing the circle and sync commands
//! share; `run` dispatches.

pub mod add;
pub mod circle;
pub mod completions;
pub mod edit;
pub mod export;
pub mod get;
pub mod history;
pub mod import;
pub mod init;
pub mod keys;
pub mod list;
pub mod lock;
mod pairing;
pub mod peer;
pub mod quarantine;
pub mod restore;
pub mod rm;
mod round;
mod server_session;
pub mod ssh_agent;
mod status;
pub mod sync;
mod tls_args;
pub mod totp;
mod watch;

use crate::cli::Command;
use crate::context::Ctx;

/// Runs one parsed command.
pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => init::run(ctx, args),
        Command::Add(args) => add::run(ctx, args),
        Command::Get(args) => get::run(ctx, args),
        Command::Ls(args) => list::ls(ctx, args),
        Command::Search(args) => list::search(ctx, args),
        Command::Edit(args) => edit::run(ctx, args),
        Command::Rm(args) => rm::run(ctx, args),
        Command::History(args) => history::run(ctx, args),
        Command::Restore(args) => restore::run(ctx, args),
        Command::Totp(args) => totp::run(ctx, args),
        Command::Gen(args) => keys::gen_password(ctx, args),
        Command::Passwd(args) => keys::passwd(ctx, args),
        Command::Rotate => keys::rotate(ctx),
        Command::Export(args) => export::run(ctx, args),
        Command::Import(args) => import::run(ctx, args),
        Command::Unlock(args) => lock::unlock(ctx, args),
        Command::Lock => lock::lock(ctx),
        Command::Status => status::run(ctx),
        Command::Sync(args) => sync::run(ctx, args),
        Command::Circle(args) => circle::run(ctx, args),
        Command::Peer(args) => peer::run(ctx, args),
        Command::Quarantine(args) => quarantine::run(ctx, args),
        Command::Completions(args) => completions::run(args),
        Command::Clip { seconds } => crate::clipboard::serve(seconds),
        Command::SshAgent(args) => ssh_agent::run(ctx, args),
        Command::Agent {
            socket,
            vault_file,
            timeout,
        } => crate::agent::server::run(&socket, &vault_file, timeout),
    }
}
