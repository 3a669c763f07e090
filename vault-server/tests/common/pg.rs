//! A database of its own for each PostgreSQL test, in the cluster that
//! `VAULT_TEST_POSTGRES_URL` names; dropped (connections and all) when the
//! test ends.

use std::io::Write;
use tokio_postgres::NoTls;

/// One test's database.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    /// A new empty database, or `None` (with a note on stderr) when no
    /// cluster is given and none is required.
    pub fn create(tag: &str) -> Option<TestDb> {
        let Ok(admin) = std::env::var("VAULT_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("VAULT_TEST_POSTGRES_REQUIRED").is_none(),
                "VAULT_TEST_POSTGRES_REQUIRED is set but VAULT_TEST_POSTGRES_URL is not: \
                 start a cluster with `eval \"$(scripts/pg-test-cluster start)\"`"
            );
            // Straight to stderr, past the test harness's capture: the
            // skip must show in a plain `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL test {tag} skipped: VAULT_TEST_POSTGRES_URL is not set \
                 (`eval \"$(scripts/pg-test-cluster start)\"` starts a throwaway cluster)"
            );
            return None;
        };
        Some(TestDb::create_in(&admin, tag))
    }

    /// A new empty database in the cluster whose `postgres` database
    /// `admin` names.
    pub fn create_in(admin: &str, tag: &str) -> TestDb {
        let name = format!("vault_test_{tag}_{:016x}", getrandom::u64().unwrap());
        run(admin, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
        TestDb {
            url: format!("{base}/{name}"),
            name,
            admin: admin.to_owned(),
        }
    }

    /// Runs SQL in the test's database.
    #[allow(dead_code, reason = "not every test binary edits the database by hand")]
    pub fn execute(&self, sql: &str) {
        run(&self.url, sql);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        run(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

impl TestDb {
    /// The first column of each row `sql` returns, as a 64-bit integer.
    pub fn ints(&self, sql: &str) -> Vec<i64> {
        on_own_runtime(async {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
            let driver = tokio::spawn(connection);
            let rows = client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            drop(client);
            let _ = driver.await;
            rows.iter().map(|r| r.get(0)).collect()
        })
    }
}

/// Runs `f` on a runtime of its own, on a thread of its own: callable
/// from plain tests and from async ones alike.
fn on_own_runtime<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f)
            })
            .join()
            .unwrap()
    })
}

/// Runs `sql` on a connection of its own.
fn run(url: &str, sql: &str) {
    on_own_runtime(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    });
}
