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

    /// [`Deployment::start`] on a database of the cluster `cluster`.
    pub fn start_on(cluster: &OwnCluster, tag: &str, n: usize) -> Deployment {
        let db = TestDb::create_in(&cluster.url, tag);
        let instances = (0..n).map(|_| ServerProc::start_pg(&db.url)).collect();
        Deployment { instances, db }
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

/// A PostgreSQL cluster of one test's own (`scripts/pg-test-cluster`
/// with a state file of its own), for a test that restarts it; stopped
/// and deleted on drop.
pub struct OwnCluster {
    /// Its `postgres` database's URL.
    pub url: String,
    state: tempfile::TempDir,
}

impl OwnCluster {
    /// A new cluster, or `None` where the PostgreSQL tests are skipped
    /// (no `VAULT_TEST_POSTGRES_URL`, the same rule as [`TestDb`]).
    pub fn start() -> Option<OwnCluster> {
        drop(TestDb::create("probe")?);
        let state = tempfile::tempdir().unwrap();
        let out = Self::script(&state, "start");
        let url = out
            .trim()
            .strip_prefix("export VAULT_TEST_POSTGRES_URL=")
            .unwrap_or_else(|| panic!("pg-test-cluster printed {out:?}"))
            .to_owned();
        Some(OwnCluster { url, state })
    }

    /// Stops the server (sessions cut) and starts it again on its port.
    pub fn restart(&self) {
        Self::script(&self.state, "restart");
    }

    fn script(state: &tempfile::TempDir, command: &str) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-test-cluster");
        let out = std::process::Command::new(script)
            .arg(command)
            .env("VAULT_PG_TEST_STATE", state.path().join("state"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg-test-cluster {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| Self::script(&self.state, "stop"));
    }
}
