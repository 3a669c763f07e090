//! The PostgreSQL backend, for several `vault-server` instances on one
//! database (`db = "postgres://..."`): two pools on the URL (durable
//! commits, and relaxed ones for what a crash may lose), the schema
//! migrated by refinery at start under an advisory lock, and the whole
//! [`Storage`](super::Storage) interface (`storage`), the sync rules
//! being the ones both backends share ([`super::rules`]). Zone and circle
//! rows are locked `FOR UPDATE` where SQLite's single writer serializes.
//! Also the admin commands (`admin`) and the epoch move after a
//! `pg_restore` (`restore`).
//!
//! The storage interface is synchronous (handlers call it on tokio's
//! blocking pool); this backend runs tokio-postgres on a small runtime of
//! its own and blocks on it, so it works the same from a handler, an admin
//! command or a plain test.

mod access;
mod admin;
mod append;
mod manifests;
mod push;
mod reads;
mod restore;
mod storage;
mod tx;

use super::StorageError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use tokio_postgres::NoTls;
use tx::{PgTx, pg_err};

mod embedded {
    refinery::embed_migrations!("../migrations/server/postgres");
}

/// The advisory lock key under which an instance migrates: instances
/// starting together migrate one after the other ("VLS1").
const MIGRATION_LOCK: i64 = 0x564C_5331;

/// How many connections one instance keeps at most (`[postgres]` in the
/// config). With the notifier's two, an instance holds up to
/// `pool_size + relaxed_pool_size + 2` of the server's `max_connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSizes {
    /// For durable writes and reads.
    pub pool_size: u32,
    /// For what a crash may lose (`synchronous_commit = off`): challenges,
    /// session tokens, relay messages, the manifest caches, purges.
    pub relaxed_pool_size: u32,
}

impl Default for PoolSizes {
    fn default() -> PoolSizes {
        PoolSizes {
            pool_size: 16,
            relaxed_pool_size: 8,
        }
    }
}

/// Whether a `db` setting names a PostgreSQL database.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The newest schema version this binary migrates a database to.
pub fn schema_version() -> u32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| u32::try_from(m.version()).unwrap_or(0))
        .max()
        .unwrap_or(0)
}

fn pool_err(e: deadpool_postgres::PoolError) -> StorageError {
    StorageError::Backend(Box::new(e))
}

/// The PostgreSQL storage of one instance.
pub struct PgStorage {
    /// Taken only by `drop`, which shuts it down without blocking (the
    /// storage may be dropped on an async task).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// Connections whose commits do not wait for the WAL's flush.
    fast: Pool,
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never shown.
        f.debug_struct("PgStorage").finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Connects to the database at `url` and migrates it to this binary's
    /// schema (under an advisory lock, so instances starting together take
    /// turns). A database of a newer schema is refused.
    pub fn open(url: &str) -> Result<PgStorage, StorageError> {
        PgStorage::open_with(url, PoolSizes::default())
    }

    /// [`PgStorage::open`] with pools of the given sizes.
    pub fn open_with(url: &str, sizes: PoolSizes) -> Result<PgStorage, StorageError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StorageError::Backend(Box::new(e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vault-pg")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Backend(Box::new(e)))?;
        // On a thread of its own: the caller may be on an async runtime
        // (a server starting), where blocking on another one panics.
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(migrate(&config)))
                .join()
                .unwrap_or_else(|_| Err(StorageError::Backend("the migration panicked".into())))
        })?;
        let pool = new_pool(&runtime, config.clone(), sizes.pool_size as usize)?;
        let mut relaxed = config;
        let given = relaxed
            .get_options()
            .map_or(String::new(), |o| format!("{o} "));
        relaxed.options(format!("{given}-c synchronous_commit=off"));
        let fast = new_pool(&runtime, relaxed, sizes.relaxed_pool_size as usize)?;
        Ok(PgStorage {
            runtime: Some(runtime),
            pool,
            fast,
        })
    }

    /// Runs `f` to completion on this backend's runtime.
    fn block<T>(
        &self,
        f: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        self.runtime()?.block_on(f)
    }

    /// Runs `f` in one write transaction: committed if it succeeds,
    /// rolled back (nothing of it stays) if it fails.
    fn write<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_on(&self.pool, f)
    }

    /// [`PgStorage::write`] on the relaxed pool: the commit does not wait
    /// for the WAL's flush (a crash may lose it).
    fn write_relaxed<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.write_on(&self.fast, f)
    }

    fn write_on<T, E: From<StorageError>>(
        &self,
        pool: &Pool,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(pool, false, f)
    }

    /// Runs `f` in one read-only transaction that sees one snapshot
    /// (`REPEATABLE READ`: every statement reads the same committed state).
    fn read<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction(&self.pool, true, f)
    }

    /// Runs `f` in a transaction on a connection of `pool` (a read-only
    /// snapshot when `snapshot`): committed if `f` succeeds, rolled back if
    /// it fails.
    fn transaction<T, E: From<StorageError>>(
        &self,
        pool: &Pool,
        snapshot: bool,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let runtime = self.runtime()?;
        let mut client = runtime.block_on(pool.get()).map_err(pool_err)?;
        let mut builder = client.build_transaction();
        if snapshot {
            builder = builder
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true);
        }
        let tx = runtime.block_on(builder.start()).map_err(pg_err)?;
        let mut backend = PgTx {
            runtime,
            conn: tx::Conn::Tx(&tx),
        };
        match f(&mut backend) {
            Ok(out) => {
                runtime.block_on(tx.commit()).map_err(pg_err)?;
                Ok(out)
            }
            Err(e) => {
                runtime.block_on(tx.rollback()).map_err(pg_err)?;
                Err(e)
            }
        }
    }

    /// The runtime the backend blocks on; an error once it is closing.
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, StorageError> {
        self.runtime
            .as_ref()
            .ok_or_else(|| StorageError::Backend("the storage is closing".into()))
    }

    /// Runs `f` on a pooled connection outside a transaction: for reads of
    /// one statement, which see one snapshot anyway.
    fn single<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.single_on(&self.pool, f)
    }

    /// [`PgStorage::single`] on the relaxed pool: for writes of one
    /// statement that a crash may lose.
    fn single_relaxed<T, E: From<StorageError>>(
        &self,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.single_on(&self.fast, f)
    }

    fn single_on<T, E: From<StorageError>>(
        &self,
        pool: &Pool,
        f: impl FnOnce(&mut PgTx<'_, '_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let runtime = self.runtime()?;
        let client = runtime.block_on(pool.get()).map_err(pool_err)?;
        let mut backend = PgTx {
            runtime,
            conn: tx::Conn::Client(&client),
        };
        f(&mut backend)
    }

    /// The schema version the database is at (refinery's history).
    pub fn database_version(&self) -> Result<u32, StorageError> {
        self.block(async {
            let client = self.pool.get().await.map_err(pool_err)?;
            let row = client
                .query_one(
                    "SELECT COALESCE(max(version), 0) FROM refinery_schema_history",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
        })
    }
}

/// A pool of at most `size` connections configured by `config`.
fn new_pool(
    runtime: &tokio::runtime::Runtime,
    config: tokio_postgres::Config,
    size: usize,
) -> Result<Pool, StorageError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let _entered = runtime.enter();
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StorageError::Backend(Box::new(e)))
}

/// Applies the migrations this binary holds on a connection of its own,
/// under [`MIGRATION_LOCK`].
async fn migrate(config: &tokio_postgres::Config) -> Result<(), StorageError> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(pg_err)?;
    let driver = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err)?;
    let applied = embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(&mut client)
        .await
        .map_err(|e| StorageError::Backend(Box::new(e)));
    // The lock ends with the session anyway; released here so the next
    // instance need not wait for the connection to close.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err);
    drop(client);
    let _ = driver.await;
    applied?;
    unlocked?;
    Ok(())
}
