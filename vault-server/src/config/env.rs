//! The `VAULT_SERVER_*` environment variables: each a config key in upper
//! case after the prefix; the list of them is [`Config::apply_env`]'s, and a
//! variable that names no key is found by [`Config::unknown_env`].

use super::{Config, ConfigError};
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

fn env_value<T>(var: &'static str, raw: String) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    raw.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        var,
        source: e.to_string().into(),
    })
}

impl Config {
    /// Applies the `VAULT_SERVER_*` variables that are set.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        macro_rules! take {
            ($var:literal => $field:expr) => {
                if let Some(raw) = env($var) {
                    $field = env_value($var, raw)?;
                }
            };
        }
        take!("VAULT_SERVER_LISTEN" => self.listen);
        take!("VAULT_SERVER_DB" => self.db);
        take!("VAULT_SERVER_TOKEN_TTL_SECS" => self.token_ttl_secs);
        take!("VAULT_SERVER_INVITE_TTL_SECS" => self.invite_ttl_secs);
        take!("VAULT_SERVER_PURGE_INTERVAL_SECS" => self.purge_interval_secs);
        take!("VAULT_SERVER_LOG_LEVEL" => self.log_level);
        take!("VAULT_SERVER_LOG_FORMAT" => self.log_format);
        take!("VAULT_SERVER_REGISTRATION" => self.registration);
        take!("VAULT_SERVER_METRICS_LISTEN" => self.metrics_listen);
        take!("VAULT_SERVER_METRICS_PUBLIC" => self.metrics_public);
        if let Some(raw) = env("VAULT_SERVER_TRUSTED_PROXIES") {
            self.trusted_proxies = raw
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| env_value("VAULT_SERVER_TRUSTED_PROXIES", a.to_owned()))
                .collect::<Result<_, _>>()?;
        }
        let l = &mut self.limits;
        take!("VAULT_SERVER_MAX_BODY_BYTES" => l.max_body_bytes);
        take!("VAULT_SERVER_PER_IP_PER_SEC" => l.per_ip_per_sec);
        take!("VAULT_SERVER_PER_IP_BURST" => l.per_ip_burst);
        take!("VAULT_SERVER_PER_DEVICE_PER_SEC" => l.per_device_per_sec);
        take!("VAULT_SERVER_PER_DEVICE_BURST" => l.per_device_burst);
        take!("VAULT_SERVER_RELAY_MESSAGE_BYTES" => l.relay_message_bytes);
        take!("VAULT_SERVER_RELAY_MESSAGES_PER_INVITE" => l.relay_messages_per_invite);
        take!("VAULT_SERVER_SHARES_PER_REQUEST" => l.shares_per_request);
        take!("VAULT_SERVER_MAX_BATCH_RECORDS" => l.max_batch_records);
        take!("VAULT_SERVER_MAX_RECORDS_BODY_BYTES" => l.max_records_body_bytes);
        take!("VAULT_SERVER_MAX_CHANGES_PAGE" => l.max_changes_page);
        take!("VAULT_SERVER_HEADER_TIMEOUT_SECS" => l.header_timeout_secs);
        take!("VAULT_SERVER_BODY_TIMEOUT_SECS" => l.body_timeout_secs);
        take!("VAULT_SERVER_IDLE_TIMEOUT_SECS" => l.idle_timeout_secs);
        take!("VAULT_SERVER_MAX_CONNECTIONS_PER_IP" => l.max_connections_per_ip);
        take!("VAULT_SERVER_MAX_CONNECTIONS" => l.max_connections);
        let q = &mut self.quotas;
        take!("VAULT_SERVER_QUOTAS_MAX_DEVICES" => q.max_devices);
        take!("VAULT_SERVER_QUOTAS_MAX_RECORDS" => q.max_records);
        take!("VAULT_SERVER_QUOTAS_MAX_BYTES" => q.max_bytes);
        let p = &mut self.postgres;
        take!("VAULT_SERVER_POSTGRES_POOL_SIZE" => p.pool_size);
        take!("VAULT_SERVER_POSTGRES_RELAXED_POOL_SIZE" => p.relaxed_pool_size);
        let t = &mut self.tls;
        if let Some(raw) = env("VAULT_SERVER_TLS_CERT") {
            t.cert = Some(PathBuf::from(raw.trim()));
        }
        if let Some(raw) = env("VAULT_SERVER_TLS_KEY") {
            t.key = Some(PathBuf::from(raw.trim()));
        }
        take!("VAULT_SERVER_TLS_ALLOW_TLS12" => t.allow_tls12);
        take!("VAULT_SERVER_TLS_HANDSHAKE_TIMEOUT_SECS" => t.handshake_timeout_secs);
        Ok(())
    }

    /// The first of `present` (names of `VAULT_SERVER_*` variables set in
    /// the environment) that names no setting: a typo would otherwise be
    /// ignored without a word, as an unknown key in the file is not.
    pub fn unknown_env<'a>(present: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        // The names `apply_env` reads, asked of an empty environment: the
        // one list of them.
        let read = std::cell::RefCell::new(vec!["VAULT_SERVER_CONFIG".to_owned()]);
        let record = |name: &str| {
            read.borrow_mut().push(name.to_owned());
            None
        };
        // Reads nothing, so it cannot fail.
        let _ = Config::default().apply_env(&record);
        let read = read.into_inner();
        present
            .into_iter()
            .find(|name| name.starts_with("VAULT_SERVER_") && !read.iter().any(|r| r == name))
    }
}
