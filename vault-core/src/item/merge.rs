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
            server, account, protocol, port, path, label, notes, password, totp, folder;
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
            service, account, label, notes, password, folder;
            custom_fields: self.custom(b.map(|b| &b.custom_fields[..]), &l.custom_fields, &r.custom_fields),
        )
    }

    fn key(&mut self, b: Option<&CryptoKey>, l: &CryptoKey, r: &CryptoKey) -> CryptoKey {
        merge_fields!(CryptoKey, self, b, l, r;
            label, key_type, application_tag, private_key, rp_id, credential_id, user_handle,
            user_name, folder;
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
mod tests;
