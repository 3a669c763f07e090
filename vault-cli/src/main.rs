//! `vault`: the command line for people. Parses the command, runs it, and
//! turns any failure into one line on stderr and a documented exit code.

mod agent;
mod cli;
mod cmd;
mod context;
mod error;
mod genpass;
mod itemjson;
mod output;
mod password;
mod query;
mod sshagent;
mod totp;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // First, before anything creates a file: whatever this process and
    // the agent it starts create (the vault and SQLite's files next to it,
    // directories, the agent's socket, exports) is this user's alone, even
    // where no explicit mode is given or a mode is set only afterwards.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap explains over several lines; the first says what is wrong.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad usage");
            eprintln!("vault: {first} (see vault --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("vault: error: {msg}");
            ExitCode::from(error::exit_code(&e))
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let ctx = context::Ctx {
        path: context::vault_path(cli.vault)?,
        out: output::Out {
            json: cli.json,
            quiet: cli.quiet,
        },
    };
    cmd::run(&ctx, cli.command)
}
