//! One module per subcommand; `run` dispatches.

mod add;
mod circle;
mod edit;
mod export;
mod get;
mod history;
mod import;
mod init;
mod keys;
mod list;
mod lock;
mod pairing;
mod peer;
mod rm;
mod status;
mod sync;
mod totp;
mod watch;

use crate::cli::Command;
use crate::context::Ctx;

/// Runs one parsed command.
pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init { kdf_iterations } => init::run(ctx, kdf_iterations),
        Command::Add(add) => add::run(ctx, add),
        Command::Get { query, field } => get::run(ctx, &query, field.as_deref()),
        Command::Ls { class } => list::ls(ctx, class),
        Command::Search { text } => list::search(ctx, &text),
        Command::Edit { query, fields } => edit::run(ctx, &query, fields),
        Command::Rm { query } => rm::run(ctx, &query),
        Command::History {
            query,
            show_secrets,
        } => history::run(ctx, &query, show_secrets),
        Command::Totp { query } => totp::run(ctx, &query),
        Command::Gen {
            length,
            words,
            no_symbols,
        } => keys::gen_password(ctx, length, words, no_symbols),
        Command::Passwd { kdf_iterations } => keys::passwd(ctx, kdf_iterations),
        Command::Rotate => keys::rotate(ctx),
        Command::Export {
            format: _,
            output,
            plaintext,
        } => export::run(ctx, output.as_deref(), plaintext),
        Command::Import { format, file } => import::run(ctx, format, &file),
        Command::Unlock { timeout } => lock::unlock(ctx, timeout),
        Command::Lock => lock::lock(ctx),
        Command::Status => status::run(ctx),
        Command::Circle(c) => circle::run(ctx, c),
        Command::Peer(p) => peer::run(ctx, p),
        Command::Sync { watch } => sync::run(ctx, watch),
        Command::Agent { socket, timeout } => crate::agent::server::run(&socket, timeout),
    }
}

/// A time in ms since the epoch as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
