//! The command line's grammar: every subcommand, flag and help text (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Exit codes: 0 ok, 1 error, 2 bad usage, 3 wrong password or no password, \
4 no such item, peer or vault, 5 the query matches several items or peers, \
6 the server refuses this device (not a circle member), 7 the sync server \
failed verification (its records disagree with what this device or another \
member signed: it withheld, altered or injected records).

The master password comes from the agent (vault unlock), else the first line \
of $VAULT_PASSWORD_FILE, else $VAULT_PASSWORD, else a prompt on the terminal.";

/// A local-first credential vault.
///
/// The argument structs that can carry item attributes (notes, TOTP seeds,
/// custom fields) deliberately have no `Debug`, so no debug print can leak
/// them.
#[derive(Parser)]
#[command(name = "vault", version, after_help = EXIT_CODES)]
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
    Init {
        /// PBKDF2-HMAC-SHA256 iterations (at least 600000)
        #[arg(long, value_name = "N")]
        kdf_iterations: Option<u32>,
    },
    /// Add an item
    #[command(subcommand)]
    Add(AddCommand),
    /// Print one item's password, or another field
    Get {
        #[command(flatten)]
        query: QueryArgs,
        /// The field to print: password (default), account, server, service,
        /// label, notes, totp, url, private-key, or a custom field's name
        #[arg(long, value_name = "NAME")]
        field: Option<String>,
    },
    /// List items (no secrets)
    Ls {
        /// Only this class
        #[arg(long, value_enum)]
        class: Option<ClassArg>,
    },
    /// Substring search over non-secret attributes
    Search {
        /// The text to look for (case-insensitive)
        text: String,
    },
    /// Change an item's fields; the old version goes to history
    Edit {
        /// A uuid, a uuid prefix (4+ hex digits), or an exact server, service or label
        query: String,
        #[command(flatten)]
        fields: EditFields,
    },
    /// Delete an item
    Rm {
        #[command(flatten)]
        query: QueryArgs,
    },
    /// An item's earlier versions
    History {
        #[command(flatten)]
        query: QueryArgs,
        /// Include passwords and other secrets
        #[arg(long)]
        show_secrets: bool,
    },
    /// The item's current TOTP code (RFC 6238) and the seconds it stays valid
    Totp {
        #[command(flatten)]
        query: QueryArgs,
    },
    /// Generate a password (or a passphrase with --words)
    Gen {
        /// Characters
        #[arg(long, short, default_value_t = 20, value_parser = clap::value_parser!(u16).range(4..=1024))]
        length: u16,
        /// A passphrase of N words from the EFF long list instead
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        words: Option<u16>,
        /// Letters and digits only
        #[arg(long)]
        no_symbols: bool,
    },
    /// Change the master password
    Passwd {
        /// PBKDF2-HMAC-SHA256 iterations for the new password (at least 600000)
        #[arg(long, value_name = "N")]
        kdf_iterations: Option<u32>,
    },
    /// Rotate the vault key (every item's key re-wrapped)
    Rotate,
    /// Export every item (encrypted unless --plaintext)
    Export {
        /// Output format
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Write here (created, never overwritten) instead of stdout
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write secrets in the clear
        #[arg(long)]
        plaintext: bool,
    },
    /// Import another password manager's export
    Import {
        /// The file's format
        #[arg(long, value_enum)]
        format: ImportFormat,
        /// The file (- for stdin)
        file: PathBuf,
    },
    /// Start the agent: later commands need no password until the idle timeout
    Unlock {
        /// Idle time after which the agent forgets the key and exits
        #[arg(long, default_value = "15m", value_parser = parse_timeout)]
        timeout: std::time::Duration,
    },
    /// Stop the agent: the next command asks for the password again
    Lock,
    /// Path, lock state, item counts, KDF and key epoch
    Status,
    /// Sync with the circle's server: pull, merge, push, verify
    Sync {
        /// Stay connected and sync on every change, here or on another
        /// device, until interrupted (SIGINT/SIGTERM)
        #[arg(long)]
        watch: bool,
    },
    /// The trusted circle of devices that share this vault
    #[command(subcommand)]
    Circle(CircleCommand),
    /// Devices of the circle: invite, join, list, remove, verify
    #[command(subcommand)]
    Peer(PeerCommand),
    /// The agent process itself (started by `vault unlock`)
    #[command(name = "__agent", hide = true)]
    Agent {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, value_parser = parse_timeout)]
        timeout: std::time::Duration,
    },
}

#[derive(Subcommand)]
pub enum AddCommand {
    /// An internet password
    Inet(InetArgs),
    /// A generic password
    Genp(GenpArgs),
    /// A private key
    Key(KeyArgs),
}

/// Which item a command acts on.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A uuid, a uuid prefix (4+ hex digits), or an exact server, service or label
    pub query: String,
    /// Only items with this account (to pick one of several matches)
    #[arg(long, short = 'a')]
    pub account: Option<String>,
}

/// Where an item's new password comes from.
#[derive(Debug, Args, Default)]
pub struct SecretSource {
    /// Read the password from the first line of stdin
    #[arg(long, conflicts_with = "generate")]
    pub password_stdin: bool,
    /// Generate a password of LEN characters (default 20) and print it
    #[arg(long, value_name = "LEN", num_args = 0..=1, default_missing_value = "20",
          value_parser = clap::value_parser!(u16).range(4..=1024))]
    pub generate: Option<u16>,
}

#[derive(Args)]
pub struct InetArgs {
    /// Host name
    #[arg(long)]
    pub server: String,
    /// User name
    #[arg(long)]
    pub account: String,
    /// Protocol (https, ssh, ...)
    #[arg(long)]
    pub protocol: Option<String>,
    /// Port, if not the protocol's default
    #[arg(long)]
    pub port: Option<u16>,
    /// Path on the server
    #[arg(long)]
    pub path: Option<String>,
    #[command(flatten)]
    pub common: CommonFields,
    /// An otpauth:// URI or base32 TOTP seed (visible to `ps`; prefer an import or edit from a file)
    #[arg(long, value_name = "URI")]
    pub totp: Option<String>,
    /// A further URL (repeatable)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    #[command(flatten)]
    pub secret: SecretSource,
}

#[derive(Args)]
pub struct GenpArgs {
    /// The service the password belongs to
    #[arg(long)]
    pub service: String,
    /// User name
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub common: CommonFields,
    #[command(flatten)]
    pub secret: SecretSource,
}

/// Flags every password class shares.
#[derive(Args)]
pub struct CommonFields {
    /// A human label
    #[arg(long)]
    pub label: Option<String>,
    /// Notes
    #[arg(long)]
    pub notes: Option<String>,
    /// A custom field NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true))]
pub struct KeyArgs {
    /// A human label
    #[arg(long)]
    pub label: String,
    /// Generate a key of this type
    #[arg(long, value_enum, group = "source")]
    pub generate: Option<KeyType>,
    /// Read a PEM or OpenSSH private key file
    #[arg(long, value_name = "FILE", group = "source")]
    pub from_file: Option<PathBuf>,
    /// Application tag
    #[arg(long)]
    pub tag: Option<String>,
}

/// `vault edit`: every flag of `add`, each optional.
#[derive(Args)]
pub struct EditFields {
    /// New host name (inet)
    #[arg(long)]
    pub server: Option<String>,
    /// New service (genp)
    #[arg(long)]
    pub service: Option<String>,
    /// New user name
    #[arg(long)]
    pub account: Option<String>,
    /// New protocol (inet)
    #[arg(long)]
    pub protocol: Option<String>,
    /// New port (inet); 0 clears it
    #[arg(long)]
    pub port: Option<u16>,
    /// New path (inet)
    #[arg(long)]
    pub path: Option<String>,
    /// New label
    #[arg(long)]
    pub label: Option<String>,
    /// New notes
    #[arg(long)]
    pub notes: Option<String>,
    /// New TOTP URI or seed (inet); "" clears it
    #[arg(long, value_name = "URI")]
    pub totp: Option<String>,
    /// Replace the further URLs (repeatable; inet)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Set a custom field NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    pub fields: Vec<(String, String)>,
    /// Remove a custom field (repeatable)
    #[arg(long = "remove-field", value_name = "NAME")]
    pub remove_fields: Vec<String>,
    #[command(flatten)]
    pub secret: SecretSource,
    /// Ask for the new password on the terminal
    #[arg(long, conflicts_with_all = ["password_stdin", "generate"])]
    pub ask_password: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ClassArg {
    Inet,
    Genp,
    Key,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyType {
    Ed25519,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    BitwardenJson,
    KeepassxcCsv,
    #[value(name = "1password-csv")]
    OnepasswordCsv,
    ChromeCsv,
    VaultJson,
}

fn parse_field(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected NAME=VALUE".to_owned()),
    }
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err("between 1s and 7 days".to_owned());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
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

#[derive(Subcommand, Debug)]
pub enum CircleCommand {
    /// Start a circle with this device as its first member, on a sync server
    Create {
        /// The sync server, e.g. http://127.0.0.1:8625
        #[arg(long, value_name = "URL")]
        server: String,
        /// This device's name as the other devices will see it [default: the host name]
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PeerCommand {
    /// Print an invite code, wait for a device to join with it, add it
    Invite {
        /// How long the code stays valid
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// Add the device without asking to compare the short authentication string
        #[arg(long, short)]
        yes: bool,
    },
    /// Join a circle with an invite code shown on one of its devices
    Join {
        /// The code `vault peer invite` printed (it carries the server's URL)
        code: String,
        /// This device's name as the other devices will see it [default: the host name]
        #[arg(long)]
        name: Option<String>,
    },
    /// List the circle's devices (refreshes from the server first)
    Ls {
        /// Do not ask the server; show what this device last verified
        #[arg(long)]
        offline: bool,
    },
    /// Remove a device from the circle and start a new vault key epoch
    Rm {
        /// A peer id prefix (4+ hex digits) or a device name
        peer: String,
    },
    /// Show the safety number of this device and another, to compare on both
    Verify {
        /// A peer id prefix (4+ hex digits) or a device name
        peer: String,
    },
}
