//! Where the server keeps its data: a SQLite file (the default) or a
//! PostgreSQL database named by a `postgres://` URL. A URL may hold a
//! password: it is shown, printed and logged with the password masked.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The `db` setting.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Database {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by any number of instances.
    Postgres(PgUrl),
}

/// A `postgres://` (or `postgresql://`) URL. Its `Debug` and `Display`
/// mask the password; [`PgUrl::expose`] gives it whole, for connecting.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

/// What stands for a password wherever a URL is shown.
const MASK: &str = "********";

impl PgUrl {
    /// The URL as given, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL carries a password.
    pub fn has_password(&self) -> bool {
        self.0
            .parse::<tokio_postgres::Config>()
            .is_ok_and(|c| c.get_password().is_some())
    }

    /// The URL with any password (in the user part or a `password=`
    /// parameter) replaced by a mask.
    pub fn masked(&self) -> String {
        let url = &self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return MASK.into();
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:{MASK}@{host}"),
                None => format!("{user}@{host}"),
            },
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let params: Vec<String> = query
                    .split('&')
                    .map(|p| match p.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                            format!("{k}={MASK}")
                        }
                        _ => p.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", params.join("&"))
            }
            None => tail.to_owned(),
        };
        format!("{scheme}://{authority}{tail}")
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Database {
    /// The SQLite file, if that is the backend.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// The file's path, or the URL with its password masked.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// Why a `db` setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The setting is empty.
    #[error("db is empty: give a SQLite file's path or a postgres:// URL")]
    Empty,
    /// A `postgres://` URL that does not parse (the URL is not repeated:
    /// it may hold a password).
    #[error("db is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
}

impl FromStr for Database {
    type Err = DatabaseError;

    fn from_str(s: &str) -> Result<Database, DatabaseError> {
        if s.is_empty() {
            return Err(DatabaseError::Empty);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            // tokio-postgres's own parser, so what is accepted here
            // connects the same way later. Its message never holds the URL.
            s.parse::<tokio_postgres::Config>()
                .map_err(|e| DatabaseError::BadUrl(e.to_string()))?;
            return Ok(Database::Postgres(PgUrl(s.to_owned())));
        }
        Ok(Database::Sqlite(PathBuf::from(s)))
    }
}

impl TryFrom<String> for Database {
    type Error = DatabaseError;

    fn try_from(s: String) -> Result<Database, DatabaseError> {
        s.parse()
    }
}

/// As `vault-server config` prints it: a URL's password masked.
impl From<Database> for String {
    fn from(db: Database) -> String {
        db.to_string()
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Database {
        Database::Sqlite(path)
    }
}

impl From<&Path> for Database {
    fn from(path: &Path) -> Database {
        Database::Sqlite(path.to_owned())
    }
}

impl From<&str> for Database {
    /// A path or a URL; a URL that does not parse is kept as a path, so
    /// opening it fails with the file's error.
    fn from(s: &str) -> Database {
        s.parse()
            .unwrap_or_else(|_| Database::Sqlite(PathBuf::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_never_shows() {
        let db: Database =
            "postgres://vault:s3cret@db.example:5432/vault?password=s3cret&sslmode=disable"
                .parse()
                .unwrap();
        for shown in [db.to_string(), format!("{db:?}"), String::from(db.clone())] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("db.example:5432/vault"), "{shown}");
        }
        let Database::Postgres(url) = &db else {
            panic!("{db:?}")
        };
        assert!(url.expose().contains("s3cret"));
        assert_eq!(
            url.masked(),
            "postgres://vault:********@db.example:5432/vault?password=********&sslmode=disable"
        );
        let no_password: Database = "postgresql://vault@127.0.0.1/x".parse().unwrap();
        assert_eq!(no_password.to_string(), "postgresql://vault@127.0.0.1/x");
    }

    #[test]
    fn paths_urls_and_bad_values() {
        assert_eq!(
            "./v.db".parse::<Database>().unwrap(),
            Database::Sqlite("./v.db".into())
        );
        assert!(matches!("".parse::<Database>(), Err(DatabaseError::Empty)));
        let e = "postgres://u:pw@h:notaport/db"
            .parse::<Database>()
            .unwrap_err();
        assert!(matches!(e, DatabaseError::BadUrl(_)));
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
