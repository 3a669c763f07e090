//! Tests of the three-way merge.

#![allow(clippy::unwrap_used)]
use super::*;
use proptest::prelude::*;
use uuid::Uuid;

const P1: PeerId = PeerId::from_bytes([1; 32]);
const P2: PeerId = PeerId::from_bytes([2; 32]);

fn item(data: InternetPassword, ms: i64) -> Item {
    let mut it = Item::new(Uuid::from_u128(7), ItemData::Inet(data), ms);
    it.created_ms = 100 - ms;
    it
}

fn cf(name: &str, v: &str) -> CustomField {
    let (name, value) = (name.into(), v.into());
    CustomField {
        name,
        value,
        hidden: true,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The base, edited by `f`, written at `ms`.
fn ed(ms: i64, f: impl FnOnce(&mut InternetPassword)) -> Item {
    let mut d = InternetPassword {
        server: "example.com".into(),
        account: "alice".into(),
        password: "old".into(),
        uris: strs(&["a", "b"]),
        custom_fields: vec![cf("pin", "1"), cf("q", "x")],
        ..Default::default()
    };
    f(&mut d);
    item(d, ms)
}

fn run(b: Option<&Item>, l: &Item, lw: &PeerId, r: &Item, rw: &PeerId) -> Merged {
    let v = |item, writer| Version { item, writer };
    merge3(b, v(l, lw), v(r, rw)).unwrap()
}

fn inet(m: &Merged) -> &InternetPassword {
    match &m.data {
        ItemData::Inet(i) => i,
        _ => panic!("not inet"),
    }
}

fn flags(m: &Merged) -> (usize, bool, bool) {
    (m.conflicts.len(), m.local_lost, m.remote_lost)
}

#[test]
fn different_fields_edited_on_each_side_both_survive() {
    let b = ed(1, |_| {});
    let l = ed(5, |d| d.password = "new".into());
    let mut r = ed(3, |d| d.account = "bob".into());
    r.unknown = vec![(90, vec![1])];
    let m = run(Some(&b), &l, &P1, &r, &P2);
    let both = ed(0, |d| {
        (d.password, d.account) = ("new".into(), "bob".into())
    });
    assert_eq!(m.data, both.data);
    assert_eq!(flags(&m), (0, false, false));
    assert_eq!((m.created_ms, m.modified_ms), (95, 5));
    assert!(m.unknown.is_empty(), "unknown fields are the later side's");
}

#[test]
fn same_field_edited_on_both_sides_goes_to_the_later_version() {
    let b = ed(1, |_| {});
    let l = ed(5, |d| d.password = "L".into());
    let r = ed(6, |d| d.password = "R".into());
    let m = run(Some(&b), &l, &P2, &r, &P1);
    assert_eq!(inet(&m).password, "R".into());
    let c = FieldConflict {
        field: "password".into(),
        winner: Winner::Remote,
    };
    assert_eq!(m.conflicts, vec![c]);
    assert_eq!(flags(&m), (1, true, false));
    // Equal times: the greater writer id wins, whichever side it is on.
    let r = ed(5, |d| d.password = "R".into());
    let m = run(Some(&b), &l, &P2, &r, &P1);
    assert_eq!(inet(&m).password, "L".into());
    assert_eq!(m.conflicts[0].winner, Winner::Local);
    assert_eq!(flags(&m), (1, false, true));
    let m = run(Some(&b), &l, &P1, &r, &P2);
    assert_eq!(inet(&m).password, "R".into());
    assert_eq!(flags(&m), (1, true, false));
    let shown = format!("{m:?}");
    assert!(
        shown.contains("password") && !shown.contains("\"R\""),
        "{shown}"
    );
}

#[test]
fn concurrent_folder_edits_merge_like_any_field() {
    let b = ed(1, |d| d.folder = "Work".into());
    // A move on one side and a password change on the other: both kept.
    let l = ed(2, |d| d.folder = "Work/Email".into());
    let r = ed(3, |d| {
        (d.folder, d.password) = ("Work".into(), "new".into());
    });
    let m = run(Some(&b), &l, &P1, &r, &P2);
    assert_eq!(inet(&m).folder, "Work/Email");
    assert_eq!(inet(&m).password, "new".into());
    assert_eq!(flags(&m), (0, false, false));
    // Moved to two different folders: the later move wins, named `folder`.
    let r = ed(3, |d| d.folder = "Personal".into());
    let m = run(Some(&b), &l, &P1, &r, &P2);
    assert_eq!(inet(&m).folder, "Personal");
    let c = FieldConflict {
        field: "folder".into(),
        winner: Winner::Remote,
    };
    assert_eq!(m.conflicts, vec![c]);
    // Taken out of its folder on one side only: no folder.
    let r = ed(3, |d| d.folder.clear());
    let m = run(Some(&b), &b, &P1, &r, &P2);
    assert_eq!(inet(&m).folder, "");
    // The other classes merge their folder too.
    let g = |ms, folder: &str| {
        let data = ItemData::Genp(GenericPassword {
            folder: folder.into(),
            ..Default::default()
        });
        Item::new(Uuid::from_u128(8), data, ms)
    };
    let k = |ms, folder: &str| {
        let data = ItemData::Key(CryptoKey {
            folder: folder.into(),
            ..Default::default()
        });
        Item::new(Uuid::from_u128(9), data, ms)
    };
    for (b, l, r) in [
        (g(1, "A"), g(2, "A"), g(3, "B")),
        (k(1, "A"), k(2, "A"), k(3, "B")),
    ] {
        let m = run(Some(&b), &l, &P1, &r, &P2);
        assert_eq!(m.data.folder(), "B");
        assert!(m.conflicts.is_empty());
    }
}

#[test]
fn uris_merge_as_a_set() {
    let b = ed(1, |_| {});
    let l = ed(2, |d| d.uris = strs(&["c", "a", "b"]));
    let r = ed(3, |d| d.uris = strs(&["b", "d"]));
    let m = run(Some(&b), &l, &P1, &r, &P2);
    assert_eq!(inet(&m).uris, ["c", "b", "d"]);
    assert_eq!(flags(&m), (0, false, false));
}

#[test]
fn custom_fields_merge_by_name() {
    let b = ed(1, |_| {});
    // Added on both sides under different names; `q` deleted on one side
    // and unchanged on the other.
    let l = ed(2, |d| d.custom_fields.push(cf("l", "1")));
    let r = ed(3, |d| d.custom_fields = vec![cf("pin", "1"), cf("r", "2")]);
    let m = run(Some(&b), &l, &P1, &r, &P2);
    let want = [cf("pin", "1"), cf("l", "1"), cf("r", "2")];
    assert_eq!(inet(&m).custom_fields, want);
    assert_eq!(flags(&m), (0, false, false));
    // Deleted against edited: the later side wins, either way round.
    let del = |ms| ed(ms, |d| d.custom_fields.retain(|f| f.name != "pin"));
    let edit = ed(3, |d| d.custom_fields[0].value = "9".into());
    let m = run(Some(&b), &del(2), &P1, &edit, &P2);
    assert_eq!(inet(&m).custom_fields, [cf("q", "x"), cf("pin", "9")]);
    assert_eq!(m.conflicts[0].field, "custom_field");
    assert_eq!(flags(&m), (1, true, false));
    let m = run(Some(&b), &del(4), &P1, &edit, &P2);
    assert_eq!(inet(&m).custom_fields, [cf("q", "x")]);
    assert_eq!(flags(&m), (1, false, true));
}

#[test]
fn without_a_base_differing_fields_are_conflicts() {
    let l = ed(2, |d| d.uris = strs(&["x"]));
    let r = ed(3, |d| d.account = "bob".into());
    let m = run(None, &l, &P1, &r, &P2);
    let fields: Vec<_> = m.conflicts.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["account"]);
    assert_eq!(inet(&m).account, "bob");
    assert_eq!(inet(&m).uris, ["x", "a", "b"]);
    assert_eq!(flags(&m), (1, true, false));
    // A base of another class counts as none.
    let g = Item::new(Uuid::from_u128(7), ItemData::Genp(Default::default()), 0);
    assert_eq!(run(Some(&g), &l, &P1, &r, &P2).conflicts, m.conflicts);
}

#[test]
fn class_mismatch_is_an_error() {
    let l = ed(1, |_| {});
    let r = Item::new(Uuid::from_u128(7), ItemData::Genp(Default::default()), 1);
    let v = |item| Version { item, writer: &P1 };
    let err = Err(MergeError::ClassMismatch);
    assert_eq!(merge3(None, v(&l), v(&r)).map(|m| m.data), err);
    assert_eq!(merge3(Some(&l), v(&r), v(&l)).map(|m| m.data), err);
}

fn arb_item() -> impl Strategy<Value = Item> {
    let cfs = prop::collection::vec(("[xy]", "[01]"), 0..3);
    let uris = prop::collection::vec("[a-c]", 0..4);
    let port = prop::option::of(0u16..2);
    let f = (
        "[ab]?",
        "[ab]?",
        "[ab]?",
        port,
        uris,
        cfs,
        0i64..3,
        "(a|a/b)?",
    );
    f.prop_map(|(server, account, pw, port, uris, cfs, ms, folder)| {
        let custom_fields = cfs.iter().map(|(n, v)| cf(n, v)).collect();
        let password = pw.into();
        let d = InternetPassword {
            server,
            account,
            password,
            port,
            uris,
            custom_fields,
            folder,
            ..Default::default()
        };
        item(d, ms)
    })
}

/// The data with uris and custom fields sorted, for order-blind equality.
fn sorted(m: &Merged) -> (InternetPassword, Vec<(String, String, bool)>) {
    let mut d = inet(m).clone();
    d.uris.sort();
    let mut cfs: Vec<_> = d
        .custom_fields
        .drain(..)
        .map(|f| (f.name.clone(), f.value.expose().to_owned(), f.hidden))
        .collect();
    cfs.sort();
    (d, cfs)
}

proptest! {
    #[test]
    fn merging_a_version_with_itself_is_identity(b in arb_item(), x in arb_item()) {
        for base in [Some(&b), None] {
            let m = run(base, &x, &P1, &x, &P2);
            prop_assert_eq!(&m.data, &x.data);
            prop_assert!(m.conflicts.is_empty() && !m.local_lost && !m.remote_lost);
        }
    }

    #[test]
    fn a_one_sided_change_wins_entirely(b in arb_item(), x in arb_item()) {
        prop_assert_eq!(run(Some(&b), &b, &P1, &x, &P2).data, x.data.clone());
        prop_assert_eq!(run(Some(&b), &x, &P1, &b, &P2).data, x.data.clone());
        prop_assert!(run(Some(&b), &x, &P2, &b, &P1).conflicts.is_empty());
    }

    #[test]
    fn merge_is_symmetric_in_its_sides(
        b in arb_item(), l in arb_item(), r in arb_item(), has_base: bool,
    ) {
        let b = has_base.then_some(&b);
        let lr = run(b, &l, &P1, &r, &P2);
        let rl = run(b, &r, &P2, &l, &P1);
        prop_assert_eq!(sorted(&lr), sorted(&rl));
        prop_assert_eq!((lr.local_lost, lr.remote_lost), (rl.remote_lost, rl.local_lost));
        prop_assert_eq!(lr.conflicts.len(), rl.conflicts.len());
        prop_assert_eq!((lr.created_ms, lr.modified_ms), (rl.created_ms, rl.modified_ms));
    }
}
