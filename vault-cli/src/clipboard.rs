//! `vault get -c` and `vault totp -c`: a value on the clipboard (X11 or
//! Wayland) for a while, then gone, as `pass -c` does.
//!
//! The command starts a detached helper (`vault __clip`, its own session)
//! and hands it the value over a pipe, never argv, the environment or a
//! file. The helper puts the value on the clipboard and keeps serving it
//! (an X11 or Wayland selection lives only as long as its owner), answers
//! `ready` so the command can return at once, and after the timeout
//! clears the clipboard if it still holds that value. If something else
//! was copied meanwhile, it leaves the clipboard alone and exits early.
//! The value is marked for clipboard managers as a password (the KDE hint
//! most of them honour), so their histories skip it.
//!
//! The helper wipes its own copy of the value when it exits; arboard keeps
//! another (the bytes it serves) that it does not wipe, which is why the
//! helper, like the agent, allows no core dump and no ptrace, and lives no
//! longer than the timeout.

use crate::context::Ctx;
use crate::error::CliError;
use anyhow::{Context, bail};
use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The line the helper prints on stdout once the clipboard holds the value.
const READY: &str = "ready";
/// The longest value the helper takes (a long private key fits).
const MAX_VALUE: usize = 1 << 20;
/// How often the helper looks whether the clipboard still holds the value.
const POLL: Duration = Duration::from_millis(500);
/// Failed reads in a row after which the helper takes the display for gone.
const GONE_AFTER: u32 = 3;
/// How long the command waits for the helper's answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The clipboard flags of `vault get` and `vault totp`.
#[derive(clap::Args, Debug)]
pub struct ClipArgs {
    /// Copy to the clipboard instead of printing; cleared after
    /// --clip-seconds if it still holds the value
    #[arg(short = 'c', long = "clip")]
    pub clip: bool,
    /// Seconds until the clipboard is cleared
    #[arg(
        long = "clip-seconds",
        value_name = "N",
        default_value_t = 45,
        requires = "clip",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub seconds: u64,
}

/// Fails, before anything is unlocked or printed, where there is no
/// display to copy to.
pub fn ensure_display() -> Result<(), CliError> {
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set("WAYLAND_DISPLAY") || set("DISPLAY") {
        return Ok(());
    }
    Err(CliError::Usage(
        "no clipboard: neither WAYLAND_DISPLAY nor DISPLAY is set (drop --clip to print the value)"
            .into(),
    ))
}

/// Puts `value` on the clipboard through a detached helper that clears it
/// after `args.seconds`, and tells the person so (a note: not with -q).
pub fn copy(ctx: &Ctx, value: &str, args: &ClipArgs) -> anyhow::Result<()> {
    spawn_helper(value, args.seconds)?;
    ctx.out.note(&format!(
        "copied to the clipboard; clears in {} s",
        args.seconds
    ));
    Ok(())
}

/// Starts `vault __clip`, writes `value` to its stdin and waits for its
/// `ready` (or its one-line error). The helper lives on after this
/// process exits; init reaps it.
fn spawn_helper(value: &str, seconds: u64) -> anyhow::Result<()> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().context("cannot find the vault binary")?;
    let mut child = crate::password::without_secret_vars(&mut Command::new(exe))
        .arg("__clip")
        .arg("--seconds")
        .arg(seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // It holds no directory busy while it waits.
        .current_dir("/")
        .spawn()
        .context("cannot start the clipboard helper")?;
    let handed = {
        let mut stdin = child.stdin.take().context("clipboard helper stdin")?;
        stdin.write_all(value.as_bytes())
        // Dropped here: the helper reads to the end of the pipe.
    };
    let stdout = child.stdout.take().context("clipboard helper stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let answer = rx.recv_timeout(START_TIMEOUT);
    let line = match answer {
        Ok(line) if line.trim_end() == READY && handed.is_ok() => return Ok(()),
        Ok(line) => line,
        Err(_) => String::new(),
    };
    let _ = child.kill();
    let _ = child.wait();
    handed.context("cannot hand the value to the clipboard helper")?;
    match line.trim() {
        "" => bail!("the clipboard helper did not answer"),
        why => bail!("cannot copy to the clipboard: {why}"),
    }
}

/// The helper itself (`vault __clip`): reads the value from stdin, puts it
/// on the clipboard, prints `ready`, and clears it after `seconds` if it
/// still holds the value. Errors before `ready` go to stdout as one line,
/// for the command that started it.
pub fn serve(seconds: u64) -> anyhow::Result<()> {
    // Its own session: the terminal's hangup and Ctrl-C do not reach it.
    // (Not a process group leader, being a fresh child, so this succeeds.)
    let _ = rustix::process::setsid();
    crate::agent::server::harden();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut out = std::io::stdout();
    let held = read_value().and_then(|value| Ok((take(&value)?, value)));
    let (mut clipboard, value) = match held {
        Ok(held) => held,
        Err(e) => {
            let _ = writeln!(out, "{}", format!("{e:#}").replace(['\n', '\r'], " "));
            return Err(e);
        }
    };
    writeln!(out, "{READY}")?;
    out.flush()?;
    watch(&mut clipboard, &value, deadline);
    // `value` is wiped as it drops.
    Ok(())
}

/// The value from stdin, to its end: UTF-8, at most [`MAX_VALUE`] bytes,
/// read into one buffer so no unwiped copy is left by a reallocation.
fn read_value() -> anyhow::Result<Zeroizing<String>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_VALUE + 1]);
    let mut len = 0;
    let mut stdin = std::io::stdin().lock();
    while len < buf.len() {
        match stdin.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("the clipboard helper expects the value on stdin"),
        }
    }
    if len > MAX_VALUE {
        bail!("the value is longer than {MAX_VALUE} bytes");
    }
    let text = std::str::from_utf8(&buf[..len]).context("the value is not UTF-8")?;
    let mut value = Zeroizing::new(String::with_capacity(len));
    value.push_str(text);
    Ok(value)
}

/// Opens the clipboard (Wayland's data-control protocol where the
/// compositor offers it, else X11) and puts `value` on it; arboard serves
/// it from a thread of this process.
fn take(value: &str) -> anyhow::Result<arboard::Clipboard> {
    use arboard::SetExtLinux;
    let mut clipboard = arboard::Clipboard::new().context("cannot open the clipboard")?;
    clipboard
        .set()
        .exclude_from_history()
        .text(value)
        .context("cannot set the clipboard")?;
    Ok(clipboard)
}

/// What the clipboard holds, compared with the value.
#[derive(PartialEq)]
enum Holds {
    /// The value.
    Value,
    /// Something else, or nothing: someone copied or cleared meanwhile.
    Other,
    /// It could not be read this time.
    Unknown,
}

fn holds(clipboard: &mut arboard::Clipboard, value: &str) -> Holds {
    match clipboard.get_text() {
        Ok(text) => {
            let text = Zeroizing::new(text);
            if *text == value {
                Holds::Value
            } else {
                Holds::Other
            }
        }
        Err(arboard::Error::ContentNotAvailable) => Holds::Other,
        Err(_) => Holds::Unknown,
    }
}

/// Serves until `deadline`, then clears the clipboard if it still holds
/// `value`; returns early, leaving the clipboard alone, once it holds
/// something else, or once it cannot be read [`GONE_AFTER`] times in a row
/// (the display went away, and with it the selection).
fn watch(clipboard: &mut arboard::Clipboard, value: &str, deadline: Instant) {
    let mut unreadable = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(POLL));
        if Instant::now() >= deadline {
            break;
        }
        match holds(clipboard, value) {
            Holds::Value => unreadable = 0,
            Holds::Other => return,
            Holds::Unknown => {
                unreadable += 1;
                if unreadable >= GONE_AFTER {
                    return;
                }
            }
        }
    }
    if holds(clipboard, value) == Holds::Value {
        let _ = clipboard.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        clip: ClipArgs,
    }

    #[test]
    fn clip_seconds_needs_clip_and_a_sane_number() {
        let t = T::try_parse_from(["t", "-c"]).unwrap();
        assert!(t.clip.clip);
        assert_eq!(t.clip.seconds, 45);
        let t = T::try_parse_from(["t", "--clip", "--clip-seconds", "2"]).unwrap();
        assert_eq!(t.clip.seconds, 2);
        assert!(!T::try_parse_from(["t"]).unwrap().clip.clip);
        assert!(T::try_parse_from(["t", "--clip-seconds", "2"]).is_err());
        assert!(T::try_parse_from(["t", "-c", "--clip-seconds", "0"]).is_err());
    }
}
