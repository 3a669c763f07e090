//! The command line of `vault-server` (clap derive). Flags win over
//! `VAULT_SERVER_*` variables, which win over the config file.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use vault_server::{Database, LogFormat, MetricsListen, Overrides, Registration};

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
    /// A SQLite file, or a postgres:// URL without a password (give one
    /// in the config file or VAULT_SERVER_DB) [default: ./vault-server.db].
    /// (Read as text: clap's own errors would repeat the URL.)
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<String>,
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
    /// every sync zone moves to a new epoch, so devices heal it. On
    /// PostgreSQL: load the dump with pg_restore (every instance stopped),
    /// then run this without --from
    Restore {
        /// A file made by `vault-server backup` (SQLite)
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Print what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// The values the flags override. A `--db` URL is refused if it does
    /// not parse or holds a password (which every user of the machine
    /// could read in the process list); neither error repeats the URL.
    pub fn overrides(&self) -> anyhow::Result<Overrides> {
        let db = match &self.db {
            None => None,
            Some(raw) => {
                let db: Database = raw.parse().map_err(|e| anyhow::anyhow!("--db: {e}"))?;
                if let Database::Postgres(url) = &db
                    && url.has_password()
                {
                    anyhow::bail!(
                        "--db: a password on the command line is visible to every user of \
                         the machine: put the URL in the config file (db = \"postgres://...\") \
                         or in VAULT_SERVER_DB"
                    );
                }
                Some(db)
            }
        };
        Ok(Overrides {
            listen: self.listen,
            db,
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            registration: self.registration,
            metrics_listen: self.metrics_listen,
        })
    }
}
