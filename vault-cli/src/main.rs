//! `vault`: the command line for people. Parses the command, runs it, and
//! turns any failure into one line on stderr and a documented exit code.

mod agent;
mod cli;
mod clipboard;
mod cmd;
mod context;
mod error;
mod itemjson;
mod output;
mod password;
mod query;
mod sshagent;

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
            // clap's own text: the argument's name, the allowed values, a
            // suggestion for a mistyped flag, and the usage line.
            let _ = e.print();
            if std::env::args_os().any(|a| a == "--json") {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("bad usage");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                json_error(2, first);
            }
            return ExitCode::from(2);
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("vault: error: {msg}");
            let code = error::exit_code(&e);
            if json {
                json_error(code, &msg);
            }
            ExitCode::from(code)
        }
    }
}

/// With `--json`, an error is also one object on stdout:
/// `{"error":{"code":"not_found","exit":4,"message":"..."}}`.
fn json_error(exit: u8, message: &str) {
    let value = serde_json::json!({
        "error": {
            "code": error::code_name(exit),
            "exit": exit,
            "message": message,
        }
    });
    output::write_stdout(&value.to_string());
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
