//! `vault completions SHELL`: the shell's completion script for `vault`,
//! generated from the command line's grammar (clap_complete), on stdout.

use anyhow::Context;
use clap::CommandFactory;
use std::io::Write;

/// `vault completions`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete in
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut script = Vec::new();
    let mut command = without_hidden(crate::cli::Cli::command());
    clap_complete::generate(args.shell, &mut command, "vault", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        // `vault completions bash | head` is no failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("cannot write the completion script"),
    }
}

/// The grammar less its hidden subcommands (`__agent`, `__clip`: processes
/// `vault` starts itself), which clap_complete would offer otherwise. Only
/// what a completion script uses is carried over: the name, version,
/// about, the (global) flags and the visible subcommands.
fn without_hidden(cli: clap::Command) -> clap::Command {
    clap::Command::new("vault")
        .version(env!("CARGO_PKG_VERSION"))
        .about(cli.get_about().cloned().unwrap_or_default())
        .args(cli.get_arguments().cloned())
        .subcommands(cli.get_subcommands().filter(|c| !c.is_hide_set()).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hidden_subcommands_are_dropped() {
        let cli = crate::cli::Cli::command();
        let pruned = without_hidden(cli.clone());
        let names = |c: &clap::Command, hidden: bool| -> Vec<String> {
            c.get_subcommands()
                .filter(|s| s.is_hide_set() == hidden)
                .map(|s| s.get_name().to_owned())
                .collect()
        };
        assert_eq!(names(&pruned, false), names(&cli, false));
        assert!(names(&pruned, true).is_empty());
        assert_eq!(names(&cli, true), ["__clip", "__agent"]);
        let args = |c: &clap::Command| -> Vec<String> {
            c.get_arguments().map(|a| a.get_id().to_string()).collect()
        };
        assert_eq!(args(&pruned), args(&cli));
        pruned.debug_assert();
    }
}
