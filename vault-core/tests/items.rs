//! Items of every class: round trips through a reopened file, lookups,
//! search, history, gencount, delete.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use vault_core::Lookup;
use vault_core::error::ItemError;
use vault_core::item::{GenericPassword, InternetPassword, ItemClass, ItemData};

#[test]
fn every_class_and_attribute_round_trips_through_a_reopened_file() {
    let (_d, path, mut v) = new_vault();
    let mut all = vec![full_inet("a"), full_genp("b"), full_key("c")];
    all.extend(empty_of_each());
    let ids = v.add_batch(all.clone()).unwrap();
    drop(v);
    let mut v = reopen(&path);
    for (id, data) in ids.iter().zip(&all) {
        let item = v.get(*id).unwrap();
        assert_eq!(&item.data, data);
        assert_eq!(item.gencount, 1);
        assert_eq!(item.created_ms, item.modified_ms);
    }
}

#[test]
fn update_bumps_gencount_and_keeps_history() {
    let (_d, path, mut v) = new_vault();
    let id = v.add(full_genp("v1")).unwrap();
    for n in 2..=4 {
        assert_eq!(v.update(id, full_genp(&format!("v{n}"))).unwrap(), n);
    }
    drop(v);
    let mut v = reopen(&path);
    let item = v.get(id).unwrap();
    assert_eq!((item.gencount, &item.data), (4, &full_genp("v4")));
    let history = v.history(id).unwrap();
    let versions: Vec<(u64, ItemData)> =
        history.into_iter().map(|i| (i.gencount, i.data)).collect();
    assert_eq!(
        versions,
        vec![
            (3, full_genp("v3")),
            (2, full_genp("v2")),
            (1, full_genp("v1"))
        ]
    );
}

#[test]
fn history_keeps_the_last_twenty() {
    let (_d, _p, mut v) = new_vault();
    let id = v.add(full_genp("0")).unwrap();
    for n in 1..=30 {
        v.update(id, full_genp(&n.to_string())).unwrap();
    }
    let h = v.history(id).unwrap();
    assert_eq!(h.len(), 20);
    assert_eq!(h[0].data, full_genp("29"));
    assert_eq!(h[19].data, full_genp("10"));
}

#[test]
fn delete_leaves_a_tombstone_and_the_last_version_in_history() {
    let (_d, path, mut v) = new_vault();
    let id = v.add(full_inet("gone")).unwrap();
    let keep = v.add(full_inet("kept")).unwrap();
    v.delete(id).unwrap();
    assert!(matches!(v.get(id), Err(ItemError::NotFound(u)) if u == id));
    assert!(matches!(v.delete(id), Err(ItemError::NotFound(_))));
    assert!(
        v.find(Lookup::Server("gone.exämple.com"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(v.list(None).unwrap().len(), 1);
    let (gencount, tomb): (i64, bool) = raw(&path)
        .query_row(
            "SELECT gencount, tomb FROM inet WHERE uuid = ?1",
            [id.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((gencount, tomb), (2, true));
    assert_eq!(v.history(id).unwrap()[0].data, full_inet("gone"));
    assert_eq!(v.get(keep).unwrap().data, full_inet("kept"));
}

#[test]
fn latest_returns_a_live_version_or_the_tombstone() {
    let (_d, _p, mut v) = new_vault();
    let id = v.add(full_inet("x")).unwrap();
    let live = v.latest(id).unwrap();
    assert_eq!((live.gencount, live.deleted), (1, false));
    assert_eq!(live.data, full_inet("x"));
    v.delete(id).unwrap();
    let tomb = v.latest(id).unwrap();
    assert_eq!((tomb.gencount, tomb.deleted), (2, true));
    assert_eq!(tomb.class(), ItemClass::Inet);
    assert_ne!(tomb.data, full_inet("x"));
    assert!(tomb.modified_ms >= live.modified_ms);
    let unknown = uuid::Uuid::from_u128(7);
    assert!(matches!(v.latest(unknown), Err(ItemError::NotFound(u)) if u == unknown));
}

#[test]
fn update_cannot_change_class_and_unknown_uuids_are_not_found() {
    let (_d, _p, mut v) = new_vault();
    let id = v.add(full_inet("x")).unwrap();
    let err = v.update(id, full_genp("y")).unwrap_err();
    assert!(
        matches!(
            err,
            ItemError::ClassChange {
                stored: ItemClass::Inet,
                given: ItemClass::Genp,
                ..
            }
        ),
        "{err:?}"
    );
    let other = uuid::Uuid::new_v4();
    assert!(matches!(v.get(other), Err(ItemError::NotFound(_))));
    assert!(matches!(
        v.update(other, full_inet("z")),
        Err(ItemError::NotFound(_))
    ));
    assert!(matches!(v.history(other), Err(ItemError::NotFound(_))));
}

#[test]
fn exact_lookups_through_blind_indexes() {
    let (_d, _p, mut v) = new_vault();
    let a = v.add(full_inet("a")).unwrap();
    let b = v.add(full_genp("b")).unwrap();
    let c = v.add(full_key("c")).unwrap();
    let shared = v
        .add(ItemData::Genp(GenericPassword {
            service: "svc".into(),
            account: "ålice-a@example.com".into(),
            ..Default::default()
        }))
        .unwrap();
    let ids = |items: Vec<vault_core::item::Item>| {
        let mut v: Vec<_> = items.into_iter().map(|i| i.uuid).collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<uuid::Uuid>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(v.find(Lookup::Server("a.exämple.com")).unwrap()),
        vec![a]
    );
    // Host names ignore case and surrounding space.
    assert_eq!(
        ids(v.find(Lookup::Server("  A.EXÄMPLE.com ")).unwrap()),
        vec![a]
    );
    assert_eq!(
        ids(v.find(Lookup::Service("com.example.b")).unwrap()),
        vec![b]
    );
    assert!(
        v.find(Lookup::Service("COM.EXAMPLE.B")).unwrap().is_empty(),
        "services match exactly"
    );
    assert_eq!(ids(v.find(Lookup::RpId("c.webauthn.io")).unwrap()), vec![c]);
    assert_eq!(
        ids(v.find(Lookup::Account("ålice-a@example.com")).unwrap()),
        sorted(vec![a, shared])
    );
    assert_eq!(ids(v.find(Lookup::Label("passkey c")).unwrap()), vec![c]);
    assert!(v.find(Lookup::Server("")).unwrap().is_empty());
    assert!(v.find(Lookup::Server("nope.example")).unwrap().is_empty());
    // A server lookup never returns a service with the same text.
    v.add(ItemData::Genp(GenericPassword {
        service: "a.exämple.com".into(),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(
        ids(v.find(Lookup::Server("a.exämple.com")).unwrap()),
        vec![a]
    );
}

#[test]
fn lookups_follow_updates() {
    let (_d, _p, mut v) = new_vault();
    let id = v.add(full_inet("old")).unwrap();
    v.update(id, full_inet("new")).unwrap();
    assert!(
        v.find(Lookup::Server("old.exämple.com"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        v.find(Lookup::Server("new.exämple.com")).unwrap()[0].uuid,
        id
    );
}

#[test]
fn substring_search_is_case_insensitive_and_skips_secrets() {
    let (_d, path, mut v) = new_vault();
    let a = v.add(full_inet("alpha")).unwrap();
    let b = v.add(full_genp("beta")).unwrap();
    let c = v.add(full_key("gamma")).unwrap();
    let hits = |v: &mut vault_core::UnlockedVault, q: &str| -> Vec<uuid::Uuid> {
        v.search(q).unwrap().into_iter().map(|s| s.uuid).collect()
    };
    assert_eq!(hits(&mut v, "ALPHA.EXÄMPLE"), vec![a]);
    assert_eq!(hits(&mut v, "bøb-BETA"), vec![b]);
    assert_eq!(hits(&mut v, "GAMMA.webauthn"), vec![c]);
    assert_eq!(
        hits(&mut v, "zürich"),
        vec![a],
        "visible custom values are searched"
    );
    // Secrets are not searched: passwords, notes, TOTP, hidden fields.
    for secret in [
        "pässwörd",
        "recovery codes",
        "JBSWY3DP",
        "4321",
        "wifi-beta-secret",
        "日本語",
    ] {
        assert!(
            hits(&mut v, secret).is_empty(),
            "{secret} must not be searchable"
        );
    }
    // The cache follows this handle's writes...
    v.update(a, full_inet("delta")).unwrap();
    assert!(hits(&mut v, "alpha.").is_empty());
    assert_eq!(hits(&mut v, "delta."), vec![a]);
    v.delete(b).unwrap();
    assert!(hits(&mut v, "beta").is_empty());
    // ...and another handle's.
    let mut other = reopen(&path);
    let d = other.add(full_genp("epsilon")).unwrap();
    assert_eq!(hits(&mut v, "epsilon"), vec![d]);
    assert_eq!(v.list(None).unwrap().len(), 3);
    assert_eq!(v.list(Some(ItemClass::Keys)).unwrap().len(), 1);
    assert_eq!(v.count(ItemClass::Genp).unwrap(), 1);
}

#[test]
fn list_summaries_carry_no_secrets() {
    let (_d, _p, mut v) = new_vault();
    v.add(full_inet("s")).unwrap();
    let list = v.list(None).unwrap();
    let shown = format!("{list:?}");
    assert!(shown.contains("s.exämple.com"));
    assert!(!shown.contains("pässwörd"), "{shown}");
}

#[test]
fn item_debug_redacts_secrets() {
    let shown = format!("{:?}", full_inet("dbg"));
    for secret in ["pässwörd", "recovery", "JBSWY3DP", "4321"] {
        assert!(
            !shown.contains(secret),
            "{secret} leaked into Debug: {shown}"
        );
    }
}

#[test]
fn oversized_items_are_refused_and_change_nothing() {
    let (_d, _p, mut v) = new_vault();
    let big = ItemData::Inet(InternetPassword {
        notes: "x".repeat(2 << 20).into(),
        ..Default::default()
    });
    assert!(matches!(v.add(big), Err(ItemError::TooLarge)));
    assert_eq!(v.list(None).unwrap().len(), 0);
}

#[test]
fn search_works_after_the_process_changes_directory() {
    // The search cache's workers reopen the vault by path: a relative path
    // must keep working after a change of directory. Runs in a child test
    // process so the working-directory change cannot disturb other tests.
    if std::env::var_os("VAULT_CWD_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "search_works_after_the_process_changes_directory",
                "--nocapture",
            ])
            .env("VAULT_CWD_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let mut v = vault_core::Vault::create("rel.vault", PASSWORD, fast_kdf()).unwrap();
    v.add(full_inet("rel")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::env::set_current_dir(elsewhere.path()).unwrap();
    assert_eq!(v.search("rel.exämple").unwrap().len(), 1);
}

#[test]
fn items_never_synced_can_be_discarded_without_a_trace() {
    let (_d, path, mut v) = new_vault();
    let kept_out = v.add(full_genp("edited")).unwrap();
    v.update(kept_out, full_genp("edited twice")).unwrap();
    let deleted = v.add(full_inet("deleted")).unwrap();
    v.delete(deleted).unwrap();
    v.add(full_key("key")).unwrap();
    assert_eq!(v.search("").unwrap().len(), 2, "warms the search cache");

    assert_eq!(v.discard_unsynced_items().unwrap(), 2);
    assert!(v.search("").unwrap().is_empty());
    assert!(matches!(v.get(kept_out), Err(ItemError::NotFound(_))));
    drop(v);
    let conn = raw(&path);
    for table in ["genp", "inet", "keys", "item_history", "ckmirror"] {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table} still holds rows");
    }
    // The vault goes on as before.
    let mut v = reopen(&path);
    let id = v.add(full_genp("after")).unwrap();
    assert_eq!(v.get(id).unwrap().data, full_genp("after"));
}
