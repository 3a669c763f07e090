//! The server's configuration: defaults, then an optional TOML file, then
//! `VAULT_SERVER_*` environment variables, then command-line flags (each
//! later source wins). Unknown keys in the file are an error. The only
//! secret it can hold is a password in a PostgreSQL URL (`db`), which
//! `vault-server config`, `Debug` and the logs show masked.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the data lives: a SQLite file's path, or a `postgres://` URL
    /// (for several instances on one database).
    pub db: Database,
    /// Lifetime of a session token, in seconds.
    pub token_ttl_secs: u64,
    /// Default lifetime of an invite, in seconds (a request may ask for up to 3600).
    pub invite_ttl_secs: u64,
    /// How often expired challenges, session tokens, invites (with their
    /// relay messages) and registration tokens are deleted, in seconds.
    pub purge_interval_secs: u64,
    /// A `tracing` filter: `info`, `debug`, `vault_server=debug,warn`, ...
    pub log_level: String,
    /// `text` (one line per event, for people) or `json` (one object per
    /// line, for log collectors).
    pub log_format: LogFormat,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the
    /// per-IP rate limit and the logs); from any other peer the header is
    /// ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where `/metrics` is served, on a listener of its own (`off`: nowhere
    /// but the public listener, and there only with `metrics_public`).
    pub metrics_listen: MetricsListen,
    /// Also serve `/metrics` on the public listener (404 there otherwise).
    pub metrics_public: bool,
    /// Who may create a circle: `open` (anyone who reaches the server),
    /// `token` (whoever holds a registration token from `vault-server
    /// admin token create`) or `closed` (no one).
    pub registration: Registration,
    /// Sizes and rates.
    pub limits: Limits,
    /// What one circle may hold, unless an admin set its own limits
    /// (`vault-server admin circle quota`); 0 is no limit.
    pub quotas: crate::storage::Quotas,
    /// Connections to PostgreSQL (when `db` is a `postgres://` URL).
    pub postgres: crate::storage::postgres::PoolSizes,
    /// TLS, on when a certificate and a key are given.
    pub tls: Tls,
}

/// The metrics listener's address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MetricsListen {
    /// No metrics listener.
    Off,
    /// Serve `/metrics` here.
    At(SocketAddr),
}

impl FromStr for MetricsListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(MetricsListen::Off),
            addr => addr
                .parse()
                .map(MetricsListen::At)
                .map_err(|_| format!("{addr:?} is not an address (HOST:PORT) or off")),
        }
    }
}

impl TryFrom<String> for MetricsListen {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MetricsListen> for String {
    fn from(m: MetricsListen) -> String {
        match m {
            MetricsListen::Off => "off".into(),
            MetricsListen::At(addr) => addr.to_string(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not text or json")),
        }
    }
}

/// Who may create a circle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who reaches the server.
    Open,
    /// Whoever holds an unused registration token (the default: a fresh
    /// server on a public address is no open relay).
    Token,
    /// No one: only the circles that exist.
    Closed,
}

impl FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Registration::Open),
            "token" => Ok(Registration::Token),
            "closed" => Ok(Registration::Closed),
            other => Err(format!("{other:?} is not open, token or closed")),
        }
    }
}

/// TLS settings: off unless both `cert` and `key` are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// The certificate chain (PEM), leaf first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Also offer TLS 1.2 (only TLS 1.3 by default).
    pub allow_tls12: bool,
    /// Seconds a client has to finish its TLS handshake.
    pub handshake_timeout_secs: u64,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: None,
            key: None,
            allow_tls12: false,
            handshake_timeout_secs: 10,
        }
    }
}

impl Tls {
    /// The listener's settings, when TLS is on.
    pub fn settings(&self) -> Option<crate::tls::TlsSettings> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsSettings {
                cert: cert.clone(),
                key: key.clone(),
                allow_tls12: self.allow_tls12,
                handshake_timeout: std::time::Duration::from_secs(self.handshake_timeout_secs),
            }),
            _ => None,
        }
    }
}

/// Sizes and rates. A rate of 0 turns that limiter off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests per second from one IP address.
    pub per_ip_per_sec: u32,
    /// Burst allowed from one IP address.
    pub per_ip_burst: u32,
    /// Authenticated requests per second from one device.
    pub per_device_per_sec: u32,
    /// Burst allowed from one device.
    pub per_device_burst: u32,
    /// Largest relay message (decoded), in bytes.
    pub relay_message_bytes: usize,
    /// Messages one pairing session may hold (both sides together).
    pub relay_messages_per_invite: u32,
    /// Shares in one `POST .../shares`.
    pub shares_per_request: usize,
    /// Records in one `POST .../zones/{zone}/records` (more: 400 `invalid`).
    pub max_batch_records: usize,
    /// Largest `POST .../zones/{zone}/records` body, in bytes (in place of
    /// `max_body_bytes`); also the size a changes page stops growing at.
    pub max_records_body_bytes: usize,
    /// Most records in one page of `GET .../zones/{zone}/changes` (a larger
    /// `limit` is clamped to it).
    pub max_changes_page: u32,
    /// Seconds a connection has to deliver a request's head once it waits
    /// for one (so also how long a kept-alive connection may sit idle).
    pub header_timeout_secs: u64,
    /// Seconds a request's body has to arrive whole (else 408).
    pub body_timeout_secs: u64,
    /// Seconds a connection's bytes may stand still while no handler works
    /// on its request (a client that stops reading): then it is closed.
    pub idle_timeout_secs: u64,
    /// Connections open from one address (0: no cap; trusted proxies are
    /// held only to `max_connections`).
    pub max_connections_per_ip: usize,
    /// Connections open in all (0: no cap).
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8625)),
            db: Database::Sqlite(PathBuf::from("./vault-server.db")),
            token_ttl_secs: 15 * 60,
            invite_ttl_secs: 600,
            purge_interval_secs: 30,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            metrics_listen: MetricsListen::At(SocketAddr::from(([127, 0, 0, 1], 9625))),
            metrics_public: false,
            registration: Registration::Token,
            limits: Limits::default(),
            quotas: crate::storage::Quotas::default(),
            postgres: crate::storage::postgres::PoolSizes::default(),
            tls: Tls::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            per_ip_per_sec: 100,
            per_ip_burst: 200,
            per_device_per_sec: 20,
            per_device_burst: 40,
            relay_message_bytes: 16 * 1024,
            relay_messages_per_invite: 64,
            shares_per_request: 256,
            max_batch_records: 500,
            max_records_body_bytes: 16 << 20,
            max_changes_page: 5000,
            header_timeout_secs: 10,
            body_timeout_secs: 60,
            idle_timeout_secs: 60,
            max_connections_per_ip: 256,
            max_connections: 10_000,
        }
    }
}

/// The longest invite a request may ask for, in seconds.
pub const MAX_INVITE_TTL_SECS: u64 = 3600;

/// Values given on the command line (they win over everything else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--db`.
    pub db: Option<Database>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--registration`.
    pub registration: Option<Registration>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<MetricsListen>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read the config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML of the expected shape. The
    /// file's text is not quoted (a line may hold a database password).
    #[error("invalid config file {}, line {line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line the error is on (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An environment variable holds a value of the wrong type.
    #[error("invalid value in environment variable {var}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A value is out of its range.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// The rule it breaks.
        reason: &'static str,
    },
}

impl Config {
    /// Parses a TOML document; unknown keys are an error.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            line: e
                .span()
                .and_then(|span| text.get(..span.start))
                .map_or(1, |before| before.matches('\n').count() + 1),
            message: e.message().to_owned(),
        })
    }

    /// The effective configuration: defaults, the file (if any), the
    /// environment (read through `env`), then the flags.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Config::from_toml(&text, path)?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if let Some(db) = &flags.db {
            config.db = db.clone();
        }
        if let Some(level) = &flags.log_level {
            config.log_level = level.clone();
        }
        if let Some(format) = flags.log_format {
            config.log_format = format;
        }
        if let Some(cert) = &flags.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &flags.tls_key {
            config.tls.key = Some(key.clone());
        }
        if let Some(r) = flags.registration {
            config.registration = r;
        }
        if let Some(m) = flags.metrics_listen {
            config.metrics_listen = m;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the ranges the server relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, reason| Err(ConfigError::Invalid { key, reason });
        if self.token_ttl_secs == 0 {
            return bad("token_ttl_secs", "must be at least 1");
        }
        if !(1..=86_400).contains(&self.purge_interval_secs) {
            return bad("purge_interval_secs", "must be between 1 and 86400");
        }
        if !(1..=MAX_INVITE_TTL_SECS).contains(&self.invite_ttl_secs) {
            return bad("invite_ttl_secs", "must be between 1 and 3600");
        }
        if self.limits.max_body_bytes < 1024 {
            return bad("limits.max_body_bytes", "must be at least 1024");
        }
        if self.limits.relay_message_bytes == 0 || self.limits.relay_messages_per_invite == 0 {
            return bad("limits.relay_*", "must be at least 1");
        }
        if self.limits.shares_per_request == 0 {
            return bad("limits.shares_per_request", "must be at least 1");
        }
        if self.limits.max_batch_records == 0 {
            return bad("limits.max_batch_records", "must be at least 1");
        }
        if self.limits.max_records_body_bytes < 1024 {
            return bad("limits.max_records_body_bytes", "must be at least 1024");
        }
        if !(1..=1000).contains(&self.postgres.pool_size)
            || !(1..=1000).contains(&self.postgres.relaxed_pool_size)
        {
            return bad("postgres.*pool_size", "must be between 1 and 1000");
        }
        if self.limits.max_changes_page == 0 {
            return bad("limits.max_changes_page", "must be at least 1");
        }
        for (key, secs) in [
            (
                "limits.header_timeout_secs",
                self.limits.header_timeout_secs,
            ),
            ("limits.body_timeout_secs", self.limits.body_timeout_secs),
            ("limits.idle_timeout_secs", self.limits.idle_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return bad(key, "must be between 1 and 3600");
            }
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return bad("tls", "give both tls.cert and tls.key, or neither");
        }
        if !(1..=300).contains(&self.tls.handshake_timeout_secs) {
            return bad("tls.handshake_timeout_secs", "must be between 1 and 300");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return bad("log_level", "is not a tracing filter (e.g. \"info\")");
        }
        Ok(())
    }

    /// The configuration as TOML, as `vault-server config` prints it.
    pub fn to_toml(&self) -> String {
        // Every field is a string, a number or a table: serialization
        // cannot fail, but say so rather than panic if it ever did.
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the config: {e}\n"))
    }
}

mod database;
mod env;

pub use database::{Database, DatabaseError, PgUrl};
#[cfg(test)]
mod tests;
