//! Where passwords come from: a file or variable named in the environment,
//! else a prompt on the terminal without echo. Never from a flag.

use crate::error::CliError;
use anyhow::Context;
use std::io::BufRead;
use zeroize::Zeroizing;

/// A password (master, export or item) held in memory: wiped on drop,
/// `<redacted>` in `Debug`.
#[derive(Default)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes ownership of `s` (wiped when this drops).
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
}

impl std::ops::Deref for Password {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::ops::DerefMut for Password {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The environment variables of ours that can hold a password itself (the
/// `_FILE` ones only name a file).
pub const SECRET_VARS: [&str; 3] = [
    "VAULT_PASSWORD",
    "VAULT_NEW_PASSWORD",
    "VAULT_EXPORT_PASSWORD",
];

/// `cmd` without [`SECRET_VARS`]: for the processes `vault` starts (the
/// agent, the clipboard helper, the editor), which need no password.
pub fn without_secret_vars(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// The master password from `$VAULT_PASSWORD_FILE` or `$VAULT_PASSWORD`.
pub fn master_from_env() -> anyhow::Result<Option<Password>> {
    from_env("VAULT_PASSWORD_FILE", "VAULT_PASSWORD")
}

/// A password from the file named by `file_var` (its first line), else
/// from `var`.
pub fn from_env(file_var: &str, var: &str) -> anyhow::Result<Option<Password>> {
    if let Some(path) = std::env::var_os(file_var) {
        if path.is_empty() {
            return Err(CliError::Usage(format!(
                "${file_var} is set but empty: name a file, or unset it"
            ))
            .into());
        }
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read ${file_var} ({})", path.to_string_lossy()))?;
        let mut line = Password::default();
        std::io::BufReader::new(file)
            .read_line(&mut line)
            .with_context(|| format!("cannot read ${file_var}"))?;
        return Ok(Some(trim_newline(line)));
    }
    match std::env::var(var) {
        Ok(v) => Ok(Some(Password::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(CliError::Usage(format!("${var} is not valid UTF-8")).into())
        }
    }
}

/// Whether there is a terminal to ask on.
pub fn have_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Asks on the terminal without echo; `None` without a terminal.
pub fn prompt(text: &str) -> anyhow::Result<Option<Password>> {
    if !have_terminal() {
        return Ok(None);
    }
    let pw = rpassword::prompt_password(text).context("cannot read from the terminal")?;
    Ok(Some(Password::new(pw)))
}

/// Asks twice on the terminal; `None` without a terminal.
pub fn prompt_new(text: &str) -> anyhow::Result<Option<Password>> {
    let Some(first) = prompt(text)? else {
        return Ok(None);
    };
    let Some(second) = prompt("Repeat: ")? else {
        return Ok(None);
    };
    if *first != *second {
        return Err(CliError::Usage("the passwords do not match".into()).into());
    }
    Ok(Some(first))
}

/// A new password (vault init, passwd, export): from `file_var`/`var`,
/// else asked twice. Empty is refused.
pub fn new_password(file_var: &str, var: &str, what: &str) -> anyhow::Result<Password> {
    let pw = match from_env(file_var, var)? {
        Some(pw) => pw,
        None => prompt_new(&format!("{what}: "))?.ok_or_else(|| {
            CliError::Usage(format!(
                "no {}: set {file_var} or {var}, or run on a terminal",
                what.to_lowercase()
            ))
        })?,
    };
    if pw.is_empty() {
        return Err(CliError::Usage(format!("the {} is empty", what.to_lowercase())).into());
    }
    Ok(pw)
}

/// zxcvbn's score under which a new master password gets a warning
/// (0 to 4; 3 is "safely unguessable: moderate protection from offline
/// slow-hash scenarios").
pub const WEAK_SCORE: u8 = 3;

/// The warning for a weak master password, with zxcvbn's reason, if it is
/// weak. The password itself never appears in it.
pub fn weakness(pw: &str) -> Option<String> {
    let entropy = zxcvbn::zxcvbn(pw, &[]);
    let score = u8::from(entropy.score());
    if score >= WEAK_SCORE {
        return None;
    }
    let mut why = String::new();
    if let Some(feedback) = entropy.feedback() {
        if let Some(w) = feedback.warning() {
            why.push_str(&format!(": {w}"));
        }
        if let Some(s) = feedback.suggestions().first() {
            why.push_str(&format!(" ({s})"));
        }
    }
    Some(format!(
        "warning: this master password is weak (strength {score} of 4){why}; anyone who copies the vault file can try guesses offline"
    ))
}

/// Prints [`weakness`]'s warning on stderr, even with -q: it is about the
/// vault's safety, not a notice.
pub fn warn_if_weak(pw: &str) {
    if let Some(w) = weakness(pw) {
        eprintln!("{w}");
    }
}

/// The first line of stdin (an item's password).
pub fn read_stdin_line() -> anyhow::Result<Password> {
    let mut line = Password::default();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read stdin")?;
    let line = trim_newline(line);
    if line.is_empty() {
        return Err(CliError::Usage("--password-stdin: stdin's first line is empty".into()).into());
    }
    Ok(line)
}

fn trim_newline(mut s: Password) -> Password {
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
    s
}
