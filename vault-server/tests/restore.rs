//! `vault-server restore` as an admin runs it: refused while a server
//! holds the database and for a file that is not a backup (exit 1, one
//! clear line, the database untouched); after a restore, devices sign in
//! again and find every zone at a new epoch with every record of the backup.
#![allow(clippy::unwrap_used)]

mod common;

use common::sync::*;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};
use vault_core::sync::{TaggedRecord, Token};
use vault_server::storage::DbLock;

const BIN: &str = env!("CARGO_BIN_EXE_vault-server");

fn vault_server(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("VAULT_SERVER_CONFIG")
        .env_remove("VAULT_SERVER_DB")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn terminate(child: &mut Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until nothing holds the database (an in-process server's last
/// tasks may outlive `stop` by a moment).
fn wait_unlocked(db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while DbLock::acquire(db).is_err() {
        assert!(Instant::now() < deadline, "the database stayed locked");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_file_that_is_not_a_backup_is_refused_with_exit_1_and_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    drop(vault_server::SqliteStorage::open(&db).unwrap());
    let before = std::fs::read(&db).unwrap();
    let random = dir.path().join("random.bin");
    std::fs::write(&random, [0x8c; 3000]).unwrap();
    let unrelated = dir.path().join("other.db");
    rusqlite::Connection::open(&unrelated)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();

    let out = vault_server(&db, &["restore", "--from", random.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "vault-server: cannot restore {db} from {f}: {f} is not a vault-server backup: \
             it is not an SQLite database\n",
            db = db.display(),
            f = random.display()
        )
    );
    let out = vault_server(&db, &["restore", "--from", unrelated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with(&format!(
            "{} is not a vault-server backup: it is an SQLite database of another application\n",
            unrelated.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is untouched"
    );
}

#[tokio::test]
async fn restore_is_refused_while_the_server_runs_and_works_once_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db");
    let backup = dir.path().join("backup.db");
    let db_arg = db.to_str().unwrap();
    let (mut child, _addr) = spawn_binary(
        BIN,
        &[
            "--listen",
            "127.0.0.1:0",
            "--db",
            db_arg,
            "--log-level",
            "warn",
        ],
    );
    let out = vault_server(&db, &["backup", "--output", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(&db).unwrap();

    let out = vault_server(&db, &["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("stop the server first"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is untouched"
    );

    // A server does not start while a restore (or another server) holds it.
    let lock = DbLock::acquire(&db);
    assert!(lock.is_err(), "the running server holds the lock");
    terminate(&mut child);
    let held = DbLock::acquire(&db).unwrap();
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db", db_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    drop(held);

    let out = vault_server(&db, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("now start the server"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn after_a_restore_every_zone_is_at_a_new_epoch_with_every_record_of_the_backup() {
    let p = pair().await;
    let db = p.s.config.db.sqlite_path().unwrap().to_owned();
    let (circle, a, b) = (p.circle, p.a, p.b);
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");

    let first: Vec<TaggedRecord> = (0..6)
        .map(|i| tagged(0, record(&a, uuid_in(i * 30, i.into()), 1, i == 5)))
        .collect();
    push_ok(&p.s, &p.ta, circle, &first).await;
    let edit = tagged(1, record(&a, uuid_in(0, 0), 2, false));
    push_ok(&p.s, &p.ta, circle, &[edit]).await;
    let at_backup = changes_ok(&p.s, &p.ta, circle, "").await;
    assert_eq!(at_backup.records.len(), 6);
    let out = vault_server(&db, &["backup", "--output", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The live timeline goes on after the backup: a device syncs it.
    let later = tagged(0, record(&b, uuid_in(200, 9), 1, false));
    push_ok(&p.s, &p.tb, circle, &[later]).await;
    let held = changes_ok(&p.s, &p.tb, circle, "").await.token;
    assert_eq!(held, Token { epoch: 1, seq: 8 });

    // Stop the server, keeping its directory (the database is in it).
    let _server_dir = {
        let mut s = p.s;
        s.stop().await.unwrap();
        let Server { dir, .. } = s;
        dir
    };
    wait_unlocked(&db);
    // As if an earlier restore had moved the zone far ahead of the clock.
    let live_epoch = 4_000_000_000u32;
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE zones SET epoch = ?1", [live_epoch])
        .unwrap();

    let out = vault_server(
        &db,
        &["restore", "--from", backup.to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epoch = report["epoch"].as_u64().unwrap();
    assert!(epoch > u64::from(live_epoch), "{report}");
    assert_eq!(report["replaced"], "read");
    assert_eq!(report["zones"].as_array().unwrap().len(), 1, "{report}");
    let zone = &report["zones"][0];
    assert_eq!(
        (
            zone["zone"].as_str(),
            zone["old_epoch"].as_u64(),
            zone["seq"].as_u64()
        ),
        (Some(ZONE), Some(1), Some(8)),
        "{report}"
    );
    assert!(zone["old_epoch"].as_u64().unwrap() < epoch);
    assert!(
        stderr(&out).contains(&format!("moved 1 zone(s) to epoch {epoch}")),
        "{}",
        stderr(&out)
    );
    let epoch = u32::try_from(epoch).unwrap();

    let s = Server::with(|c| c.db = db.clone().into()).await;
    // Sessions were dropped: a device signs in again.
    changes(&s, &p.tb, circle, "")
        .await
        .assert_error(401, "unauthorized");
    let tb = login(&s, &b, circle).await;
    // The token the device held from after the backup is refused...
    changes(&s, &tb, circle, &format!("since={}", held.to_text()))
        .await
        .assert_error(410, "token_expired");
    // ...and the manifest tells it the zone's new epoch.
    let m = manifest(&s, &tb, circle, false).await;
    assert_eq!(m["token"], format!("{epoch}.8"), "{m}");
    // From seq 0: every record of the backup, as it was.
    let page = changes_ok(&s, &tb, circle, "").await;
    assert_eq!(page.token, Token { epoch, seq: 8 });
    assert_eq!(page.records, at_backup.records);
    // What the backup lacks the device pushes again, past every old seq.
    let again = tagged(0, record(&b, uuid_in(200, 9), 1, false));
    let answer = push_ok(&s, &tb, circle, &[again]).await;
    assert_eq!(saved_seqs(&answer), [9]);
    assert_eq!(answer["token"], format!("{epoch}.9"));
}
