//! A file tampered with behind the library's back: each change is a typed
//! error for the item touched, and every other item stays readable.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use uuid::Uuid;
use vault_core::UnlockedVault;
use vault_core::crypto::DecryptError;
use vault_core::error::ItemError;
use vault_core::item::ItemClass;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    v: UnlockedVault,
    a: Uuid,
    b: Uuid,
    others: Vec<Uuid>,
}

fn fixture() -> Fixture {
    let (dir, path, mut v) = new_vault();
    let a = v.add(full_inet("a")).unwrap();
    let b = v.add(full_inet("b")).unwrap();
    let others = v
        .add_batch([full_inet("c"), full_genp("d"), full_key("e")])
        .unwrap();
    Fixture {
        _dir: dir,
        path,
        v,
        a,
        b,
        others,
    }
}

impl Fixture {
    fn blob(&self, table: &str, col: &str, id: Uuid) -> Vec<u8> {
        raw(&self.path)
            .query_row(
                &format!("SELECT {col} FROM {table} WHERE uuid = ?1"),
                [id.as_bytes()],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn set(&self, table: &str, col: &str, id: Uuid, value: &[u8]) {
        let n = raw(&self.path)
            .execute(
                &format!("UPDATE {table} SET {col} = ?1 WHERE uuid = ?2"),
                rusqlite::params![value, id.as_bytes()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// The untouched items still read, and list reports exactly `damaged`.
    fn others_readable(&mut self, damaged: &[Uuid]) {
        let all = [self.a, self.b];
        for id in all
            .iter()
            .chain(&self.others)
            .filter(|id| !damaged.contains(id))
        {
            self.v.get(*id).unwrap();
        }
        let listed = self.v.list(None).unwrap().len();
        assert_eq!(listed, 5 - damaged.len());
        let mut got = self.v.damaged_items().unwrap();
        got.sort();
        let mut want = damaged.to_vec();
        want.sort();
        assert_eq!(got, want);
    }
}

fn decrypt_error(r: Result<vault_core::item::Item, ItemError>) -> DecryptError {
    match r {
        Err(ItemError::Decrypt { source, .. }) => source,
        other => panic!("expected a decryption error, got {other:?}"),
    }
}

#[test]
fn encitem_swapped_between_items() {
    let mut f = fixture();
    let (ea, eb) = (
        f.blob("inet", "encitem", f.a),
        f.blob("inet", "encitem", f.b),
    );
    f.set("inet", "encitem", f.a, &eb);
    f.set("inet", "encitem", f.b, &ea);
    assert_eq!(decrypt_error(f.v.get(f.a)), DecryptError::KeyCommitment);
    assert_eq!(decrypt_error(f.v.get(f.b)), DecryptError::KeyCommitment);
    f.others_readable(&[f.a, f.b]);
}

#[test]
fn encitem_and_wrappedkey_moved_together_to_another_item() {
    let mut f = fixture();
    for col in ["encitem", "wrappedkey"] {
        let blob = f.blob("inet", col, f.b);
        f.set("inet", col, f.a, &blob);
    }
    assert_eq!(decrypt_error(f.v.get(f.a)), DecryptError::Authentication);
    f.others_readable(&[f.a]);
}

#[test]
fn wrappedkey_swapped_between_items() {
    let mut f = fixture();
    let (wa, wb) = (
        f.blob("inet", "wrappedkey", f.a),
        f.blob("inet", "wrappedkey", f.b),
    );
    f.set("inet", "wrappedkey", f.a, &wb);
    f.set("inet", "wrappedkey", f.b, &wa);
    assert_eq!(decrypt_error(f.v.get(f.a)), DecryptError::Authentication);
    assert_eq!(decrypt_error(f.v.get(f.b)), DecryptError::Authentication);
    f.others_readable(&[f.a, f.b]);
}

#[test]
fn gencount_edited() {
    let mut f = fixture();
    raw(&f.path)
        .execute(
            "UPDATE inet SET gencount = 7 WHERE uuid = ?1",
            [f.a.as_bytes()],
        )
        .unwrap();
    assert_eq!(decrypt_error(f.v.get(f.a)), DecryptError::Authentication);
    f.others_readable(&[f.a]);
}

#[test]
fn row_moved_into_another_class_table() {
    let mut f = fixture();
    let c = raw(&f.path);
    c.execute(
        "INSERT INTO genp SELECT * FROM inet WHERE uuid = ?1",
        [f.a.as_bytes()],
    )
    .unwrap();
    c.execute("DELETE FROM inet WHERE uuid = ?1", [f.a.as_bytes()])
        .unwrap();
    match f.v.get(f.a) {
        Err(ItemError::ClassMismatch {
            table: ItemClass::Genp,
            sealed: ItemClass::Inet,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    f.others_readable(&[f.a]);
}

#[test]
fn an_older_version_of_the_same_item_put_back() {
    let mut f = fixture();
    f.v.update(f.a, full_inet("a2")).unwrap();
    let (old_w, old_e): (Vec<u8>, Vec<u8>) = raw(&f.path)
        .query_row(
            "SELECT wrappedkey, encitem FROM item_history WHERE uuid = ?1",
            [f.a.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    f.set("inet", "encitem", f.a, &old_e);
    f.set("inet", "wrappedkey", f.a, &old_w);
    assert_eq!(decrypt_error(f.v.get(f.a)), DecryptError::Authentication);
    // Only the encitem put back, under the current wrappedkey.
    let mut g = fixture();
    g.v.update(g.a, full_inet("a2")).unwrap();
    let old_e: Vec<u8> = raw(&g.path)
        .query_row(
            "SELECT encitem FROM item_history WHERE uuid = ?1",
            [g.a.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    g.set("inet", "encitem", g.a, &old_e);
    assert_eq!(decrypt_error(g.v.get(g.a)), DecryptError::KeyCommitment);
    f.others_readable(&[f.a]);
}

#[test]
fn a_tombstone_revived_by_its_flag_is_refused() {
    let mut f = fixture();
    f.v.delete(f.a).unwrap();
    raw(&f.path)
        .execute("UPDATE inet SET tomb = 0 WHERE uuid = ?1", [f.a.as_bytes()])
        .unwrap();
    assert!(matches!(f.v.get(f.a), Err(ItemError::TombstoneMismatch(_))));
}

#[test]
fn one_flipped_bit_anywhere_in_either_blob_is_a_typed_error() {
    let mut f = fixture();
    let originals = [
        ("encitem", f.blob("inet", "encitem", f.a)),
        ("wrappedkey", f.blob("inet", "wrappedkey", f.a)),
    ];
    let cell = std::cell::RefCell::new(&mut f);
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    let strategy = (0usize..2, any::<proptest::sample::Index>(), 0u8..8);
    runner
        .run(&strategy, |(which, pos, bit)| {
            let (col, original) = &originals[which];
            let mut bytes = original.clone();
            let at = pos.index(bytes.len());
            bytes[at] ^= 1 << bit;
            let mut f = cell.borrow_mut();
            let a = f.a;
            f.set("inet", col, a, &bytes);
            let result = f.v.get(a);
            f.set("inet", col, a, original);
            match result {
                Err(ItemError::Decrypt { source, .. }) => {
                    let expected_kind = match source {
                        DecryptError::UnsupportedVersion(_) => at == 0,
                        DecryptError::KeyCommitment => *col == "encitem" && (13..45).contains(&at),
                        DecryptError::Authentication => true,
                        _ => false,
                    };
                    prop_assert!(expected_kind, "{col}[{at}] bit {bit}: {source:?}");
                }
                other => prop_assert!(false, "{col}[{at}] bit {bit}: {other:?}"),
            }
            Ok(())
        })
        .unwrap();
    f.others_readable(&[]);
}
