//! Several `vault-server` processes on one PostgreSQL database (a
//! database of its own in the cluster `VAULT_TEST_POSTGRES_URL` names;
//! without it, the test says it was skipped, and fails if
//! `VAULT_TEST_POSTGRES_REQUIRED` is set, as in CI).

use super::pg::TestDb;
use super::{Db, ServerProc, spawn};

/// The instances, stopped before their database is dropped.
pub struct Deployment {
    /// The instances, in the order started.
    pub instances: Vec<ServerProc>,
    /// The database they share.
    pub db: TestDb,
}

/// Rate limits out of a fast test's way; the rest as the server's defaults.
const UNTHROTTLED: &str = "[limits]\nper_ip_per_sec = 100000\nper_ip_burst = 100000\n\
     per_device_per_sec = 100000\nper_device_burst = 100000\n";

impl Deployment {
    /// `n` instances on a new database, or `None` when no cluster is given
    /// (and none required).
    pub fn start(tag: &str, n: usize) -> Option<Deployment> {
        let db = TestDb::create(tag)?;
        let instances = (0..n).map(|_| ServerProc::start_pg(&db.url)).collect();
        Some(Deployment { instances, db })
    }

    /// The `i`-th instance's URL.
    pub fn url(&self, i: usize) -> &str {
        &self.instances[i].url
    }
}

impl ServerProc {
    /// A server on the PostgreSQL database at `url`, its rate limits off.
    pub fn start_pg(url: &str) -> ServerProc {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("server.toml");
        std::fs::write(&cfg, UNTHROTTLED).unwrap();
        let extra = vec!["--config".to_owned(), cfg.to_str().unwrap().to_owned()];
        let (child, served) = spawn(Db::Url(url), "127.0.0.1:0", &extra);
        ServerProc {
            child,
            url: served,
            db: dir.path().join("unused.db"),
            pg_url: Some(url.to_owned()),
            dir,
            extra,
        }
    }
}
