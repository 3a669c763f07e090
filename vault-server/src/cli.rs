//! The command line of `vault-server` (clap derive). Flags win over
//! `VAULT_SERVER_*` variables, which win over the config file.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use vault_server::{LogFormat, MetricsListen, Overrides, Registration};

/// The Vault sync server.
#[derive(Debug, Parser)]
#[command(name = "vault-server", version, about)]
pub struct Cli {
    /// A TOML config file.
    #[arg(long, global = true, value_name = "PATH", env = "VAULT_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8625].
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The SQLite database [default: ./vault-server.db].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// A tracing filter such as `info` or `vault_server=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log lines as `text` (the default) or `json` (one object per line).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, global = true, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// Serve /metrics on this address only [default: 127.0.0.1:9625], or `off`.
    #[arg(long, global = true, value_name = "ADDR|off")]
    pub metrics_listen: Option<MetricsListen>,
    /// Who may create a circle: open, token (the default) or closed.
    #[arg(long, global = true, value_name = "POLICY")]
    pub registration: Option<Registration>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the effective configuration as TOML.
    Config,
    /// Copy the live database consistently into a new file.
    Backup {
        /// The copy to create; an existing file is never overwritten.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Administer the database (a running server's too): registration
    /// tokens, circles and their quotas, the check, and the admin log.
    #[command(subcommand)]
    Admin(crate::admin_cmd::Admin),
    /// Replace the database with a backup (the server must be stopped);
    /// every sync zone moves to a new epoch, so devices heal it.
    Restore {
        /// A file made by `vault-server backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Print what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// The values the flags override.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            db: self.db.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            registration: self.registration,
            metrics_listen: self.metrics_listen,
        }
    }
}
