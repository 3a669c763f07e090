//! Three-way, per-field merge of two concurrent versions of one item against
//! their common base, for sync: edits to different fields both survive, and a
//! field both sides changed goes to the later modification.

use super::{CryptoKey, CustomField, GenericPassword, InternetPassword, Item, ItemData};
use crate::crypto::PeerId;
use std::fmt;

/// One side of a merge: a decrypted version and the peer that wrote it.
#[derive(Clone, Copy)]
pub struct Version<'a> {
    /// The decrypted version.
    pub item: &'a Item,
    /// The peer that wrote it.
    pub writer: &'a PeerId,
}

impl Version<'_> {
    /// The total order that decides conflicts: modification time, then the
    /// writer's id bytes.
    fn rank(&self) -> (i64, &[u8; 32]) {
        (self.item.modified_ms, self.writer.as_bytes())
    }
}

/// A field both sides changed. Names only, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The field's name, such as `password`; every custom field is reported
    /// as `custom_field`, since a custom field's name can itself be sensitive.
    pub field: String,
    /// The side whose value was kept.
    pub winner: Winner,
}

/// A side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// The local version.
    Local,
    /// The remote version.
    Remote,
}

/// The merged attributes.
pub struct Merged {
    /// The merged attributes, of the two versions' class.
    pub data: ItemData,
    /// Fields from a newer format: the later version's, taken whole.
    #[allow(dead_code, reason = "read when sync writes the merged version")]
    pub(crate) unknown: Vec<(u8, Vec<u8>)>,
    /// The earlier of the two creation times.
    pub created_ms: i64,
    /// The later of the two modification times.
    pub modified_ms: i64,
    /// The fields both sides changed, in field order.
    pub conflicts: Vec<FieldConflict>,
    /// A value of local's lost a conflict (local's version must go to history).
    pub local_lost: bool,
    /// A value of remote's lost a conflict.
    pub remote_lost: bool,
}

impl fmt::Debug for Merged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merged")
            .field("conflicts", &self.conflicts)
            .field("local_lost", &self.local_lost)
            .field("remote_lost", &self.remote_lost)
            .finish_non_exhaustive()
    }
}

/// Why two versions cannot be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Local and remote are of different item classes.
    #[error("the two versions are of different item classes")]
    ClassMismatch,
}

/// Merges `local` and `remote`, two concurrent versions of one item, against
/// their common `base` (`None` if they have none; a base of another class
/// counts as none).
///
/// Each field is merged on its own: a value changed on one side only is
/// taken; a value changed on both sides to different values is a conflict,
/// won by the version greater in `(modified_ms, writer)` (on an exact tie,
/// local). Without a base every differing field is a conflict. `uris` merge
/// as a set and custom fields as a map by name (the n-th field of a name
/// matches the n-th of the same name on the other side); a list changed on
/// one side only is taken whole, order included. `unknown` fields are the
/// later version's; `created_ms` is the minimum, `modified_ms` the maximum.
pub fn merge3(
    base: Option<&Item>,
    local: Version<'_>,
    remote: Version<'_>,
) -> Result<Merged, MergeError> {
    use ItemData::{Genp, Inet, Key};
    let (l, r) = (local.item, remote.item);
    let mut cx = Ctx {
        local_wins: local.rank() >= remote.rank(),
        ..Ctx::default()
    };
    // A base of another class falls through to the arm without one.
    let data = match (base.map(|b| &b.data), &l.data, &r.data) {
        (Some(Inet(b)), Inet(x), Inet(y)) => Inet(cx.inet(Some(b), x, y)),
        (_, Inet(x), Inet(y)) => Inet(cx.inet(None, x, y)),
        (Some(Genp(b)), Genp(x), Genp(y)) => Genp(cx.genp(Some(b), x, y)),
        (_, Genp(x), Genp(y)) => Genp(cx.genp(None, x, y)),
        (Some(Key(b)), Key(x), Key(y)) => Key(cx.key(Some(b), x, y)),
        (_, Key(x), Key(y)) => Key(cx.key(None, x, y)),
        _ => return Err(MergeError::ClassMismatch),
    };
    let later = if cx.local_wins { l } else { r };
    Ok(Merged {
        data,
        unknown: later.unknown.clone(),
        created_ms: l.created_ms.min(r.created_ms),
        modified_ms: l.modified_ms.max(r.modified_ms),
        conflicts: cx.conflicts,
        local_lost: cx.local_lost,
        remote_lost: cx.remote_lost,
    })
}

/// Builds `$ty` by merging each listed scalar field of `$b`/`$l`/`$r` with
/// [`Ctx::field`]; the fields after `;` are given as `name: expr`.
macro_rules! merge_fields {
    ($ty:ident, $cx:ident, $b:ident, $l:ident, $r:ident; $($f:ident),+; $($rest:tt)*) => {
        $ty {
            $($f: $cx.field(stringify!($f), $b.map(|b| &b.$f), &$l.$f, &$r.$f),)+
            $($rest)*
        }
    };
}

/// A merge in progress: who wins conflicts, and what was lost.
#[derive(Default)]
struct Ctx {
    /// Local is the later version, so wins conflicts.
    local_wins: bool,
    conflicts: Vec<FieldConflict>,
    local_lost: bool,
    remote_lost: bool,
}

impl Ctx {
    fn inet(
        &mut self,
        b: Option<&InternetPassword>,
        l: &InternetPassword,
        r: &InternetPassword,
    ) -> InternetPassword {
        merge_fields!(InternetPassword, self, b, l, r;
            server, account, protocol, port, path, label, notes, password, totp;
            uris: merge_set(b.map(|b| &b.uris[..]), &l.uris, &r.uris),
            custom_fields: self.custom(b.map(|b| &b.custom_fields[..]), &l.custom_fields, &r.custom_fields),
        )
    }

    fn genp(
        &mut self,
        b: Option<&GenericPassword>,
        l: &GenericPassword,
        r: &GenericPassword,
    ) -> GenericPassword {
        merge_fields!(GenericPassword, self, b, l, r;
            service, account, label, notes, password;
            custom_fields: self.custom(b.map(|b| &b.custom_fields[..]), &l.custom_fields, &r.custom_fields),
        )
    }

    fn key(&mut self, b: Option<&CryptoKey>, l: &CryptoKey, r: &CryptoKey) -> CryptoKey {
        merge_fields!(CryptoKey, self, b, l, r;
            label, key_type, application_tag, private_key, rp_id, credential_id, user_handle,
            user_name;
        )
    }

    /// Merges one scalar field.
    fn field<T: PartialEq + Clone>(
        &mut self,
        name: &'static str,
        base: Option<&T>,
        l: &T,
        r: &T,
    ) -> T {
        self.pick(name, base, l, r).clone()
    }

    /// The three-way rule: the common value, else the one changed side's,
    /// else (a conflict) the winner's.
    fn pick<'t, T: PartialEq>(
        &mut self,
        name: &'static str,
        base: Option<&T>,
        l: &'t T,
        r: &'t T,
    ) -> &'t T {
        if l == r {
            return l;
        }
        match base {
            Some(b) if l == b => return r,
            Some(b) if r == b => return l,
            _ => {}
        }
        let (local, field) = (self.local_wins, name.to_owned());
        let winner = if local { Winner::Local } else { Winner::Remote };
        self.conflicts.push(FieldConflict { field, winner });
        self.local_lost |= !local;
        self.remote_lost |= local;
        if local { l } else { r }
    }

    /// Custom fields as a map from (name, occurrence) to field; absence is
    /// a value like any other.
    fn custom(
        &mut self,
        b: Option<&[CustomField]>,
        l: &[CustomField],
        r: &[CustomField],
    ) -> Vec<CustomField> {
        if let Some(whole) = whole(b, l, r) {
            return whole.to_vec();
        }
        let (bk, lk, rk) = (b.map(keyed), keyed(l), keyed(r));
        let mut keys: Vec<Key<'_>> = lk.iter().map(|(k, _)| *k).collect();
        keys.extend(
            rk.iter()
                .map(|(k, _)| *k)
                .filter(|k| lookup(&lk, k).is_none()),
        );
        let mut out = Vec::with_capacity(keys.len());
        for k in &keys {
            let base = bk.as_deref().map(|bk| lookup(bk, k));
            let (lv, rv) = (lookup(&lk, k), lookup(&rk, k));
            if let Some(f) = *self.pick("custom_field", base.as_ref(), &lv, &rv) {
                out.push(f.clone());
            }
        }
        out
    }
}

/// A custom field's key: its name and which occurrence of that name it is.
type Key<'a> = (&'a str, usize);

fn keyed(v: &[CustomField]) -> Vec<(Key<'_>, &CustomField)> {
    v.iter()
        .enumerate()
        .map(|(i, f)| {
            let n = v[..i].iter().filter(|g| g.name == f.name).count();
            ((f.name.as_str(), n), f)
        })
        .collect()
}

fn lookup<'a>(v: &[(Key<'_>, &'a CustomField)], k: &Key<'_>) -> Option<&'a CustomField> {
    v.iter().find(|(x, _)| x == k).map(|(_, f)| *f)
}

/// A list changed on at most one side: that side's list, order and all.
fn whole<'t, T: PartialEq>(b: Option<&[T]>, l: &'t [T], r: &'t [T]) -> Option<&'t [T]> {
    if l == r || b == Some(r) {
        Some(l)
    } else if b == Some(l) {
        Some(r)
    } else {
        None
    }
}

/// Three-way set merge: kept by both, or added by either; an element of the
/// base removed by either side is gone. Local's order, then remote's additions.
fn merge_set(b: Option<&[String]>, l: &[String], r: &[String]) -> Vec<String> {
    if let Some(whole) = whole(b, l, r) {
        return whole.to_vec();
    }
    let in_base = |u: &String| b.is_some_and(|b| b.contains(u));
    let kept_local = l.iter().filter(|u| !in_base(u) || r.contains(u));
    let added_remote = r.iter().filter(|u| !in_base(u));
    let mut out: Vec<String> = Vec::new();
    for u in kept_local.chain(added_remote) {
        if !out.contains(u) {
            out.push(u.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
        let f = ("[ab]?", "[ab]?", "[ab]?", port, uris, cfs, 0i64..3);
        f.prop_map(|(server, account, pw, port, uris, cfs, ms)| {
            let custom_fields = cfs.iter().map(|(n, v)| cf(n, v)).collect();
            let password = pw.into();
            let d = InternetPassword {
                server,
                account,
                password,
                port,
                uris,
                custom_fields,
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
}
