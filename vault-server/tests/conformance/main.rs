//! The storage conformance suite: every case runs against the
//! [`Storage`] interface, once on SQLite and once on PostgreSQL (in a
//! database of its own in the cluster `VAULT_TEST_POSTGRES_URL` names;
//! without it the PostgreSQL half says it was skipped, unless
//! `VAULT_TEST_POSTGRES_REQUIRED` is set, as in CI, where that fails).
//! A case reads the backend's tables only through [`Backend::ints`], in
//! SQL both dialects understand.
#![allow(clippy::unwrap_used)]

#[path = "../common/pg.rs"]
mod pg;

mod circles;
mod zones;

use std::sync::Arc;
use vault_server::SqliteStorage;
use vault_server::storage::Storage;
use vault_server::storage::postgres::PgStorage;

/// One backend, opened empty for one case.
pub struct Backend {
    /// The storage under test (dropped before its database).
    pub s: Arc<dyn Storage>,
    place: Place,
}

enum Place {
    Sqlite {
        path: std::path::PathBuf,
        _dir: tempfile::TempDir,
    },
    Postgres(pg::TestDb),
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Backend {
            s: Arc::new(SqliteStorage::open(&path).unwrap()),
            place: Place::Sqlite { path, _dir: dir },
        }
    }

    fn postgres(case: &str) -> Option<Backend> {
        let db = pg::TestDb::create(&format!("conf_{}", &case[..case.len().min(20)]))?;
        Some(Backend {
            s: Arc::new(PgStorage::open(&db.url).unwrap()),
            place: Place::Postgres(db),
        })
    }

    /// The first column of each row `sql` returns, read as a 64-bit
    /// integer (cast to BIGINT in the query: both dialects read that).
    pub fn ints(&self, sql: &str) -> Vec<i64> {
        match &self.place {
            Place::Sqlite { path, .. } => {
                let c = rusqlite::Connection::open(path).unwrap();
                let mut stmt = c.prepare(sql).unwrap();
                stmt.query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Place::Postgres(db) => db.ints(sql),
        }
    }
}

/// Declares each case once per backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $case() {
                super::$module::$case(&super::Backend::sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                if let Some(b) = super::Backend::postgres(stringify!($case)) {
                    super::$module::$case(&b);
                }
            })*
        }
    };
}

conformance! {
    circles::a_circle_exists_once,
    circles::appends_follow_the_head_and_the_member_rules,
    circles::log_pages,
    circles::concurrent_appends_serialize_and_exactly_one_wins,
    circles::challenges_are_single_use_and_expire,
    circles::invites_are_claimed_once_and_relay_in_order,
    circles::shares_go_to_current_members_only,
    circles::purge_deletes_only_expired_rows,
    zones::concurrent_pushes_take_every_seq_once_in_commit_order,
    zones::a_push_takes_seqs_and_a_conflict_is_answered_with_the_stored_record,
    zones::refused_batches_save_nothing,
    zones::a_push_marks_its_buckets_and_a_read_recomputes_them,
    zones::a_changes_page_stops_at_its_byte_budget_but_is_never_empty,
    zones::collection_counts_the_zones_epoch_and_caps_at_its_seq,
    zones::a_push_past_a_quota_stores_nothing_and_one_that_shrinks_passes,
    zones::a_removal_is_refused_once_a_zone_moved_past_its_cut,
}
