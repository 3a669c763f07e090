//! The zone checks of a sync round: the server's buckets against this
//! device's at the same token, served manifests against what this device
//! saw, the zone against the current members' manifests, and the release of
//! removed peers' records a current member attested.

use super::Round;
use super::db as sync_db;
use crate::sync::{
    Digest, Leaf, Manifest, SignedManifest, SyncError, TaggedRecord, TransportError, ZoneError,
    decode_records,
};
use std::collections::BTreeMap;
use uuid::Uuid;

impl Round<'_> {
    /// At the same token, the server's root differs from this device's:
    /// compare the differing buckets record by record.
    pub(crate) fn check_divergence(&mut self, own: &Manifest) -> Result<(), SyncError> {
        let server = self.call(|t, z| t.manifest(z, true))?;
        let Some(buckets) = server.buckets else {
            return Err(TransportError::Malformed("the manifest has no buckets").into());
        };
        if server.token != self.state.token {
            return Ok(());
        }
        let differing = own.differing(&buckets.buckets);
        let records = self.call(|t, z| t.buckets(z, &differing))?;
        self.report.records_received += records.len();
        let quarantined: Vec<(Uuid, u64)> = sync_db::quarantined(self.conn, &self.zone)?
            .iter()
            .filter_map(|q| decode_records(&q.record).ok())
            .flatten()
            .map(|t| (t.record.uuid(), t.record.gencount()))
            .collect();
        let mut local: BTreeMap<Uuid, Leaf> = BTreeMap::new();
        for b in &differing {
            for l in sync_db::bucket_leaves(self.conn, *b)? {
                local.insert(l.uuid, l);
            }
        }
        let mut unexpected = 0;
        for t in &records {
            let r = &t.record;
            let leaf = Leaf {
                uuid: r.uuid(),
                gencount: r.gencount(),
                content: r.content_hash(),
            };
            if local.remove(&r.uuid()) == Some(leaf)
                || quarantined.contains(&(r.uuid(), r.gencount()))
            {
                continue;
            }
            unexpected += 1;
        }
        let missing = local
            .keys()
            .filter(|u| !quarantined.iter().any(|(q, _)| q == *u))
            .count();
        if missing + unexpected > 0 {
            return Err(ZoneError::Diverged {
                missing,
                unexpected,
            }
            .into());
        }
        Ok(())
    }

    /// Signs the zone this device reached and puts the manifest on the
    /// server. A device holding records aside signs nothing: its root would
    /// differ from its peers' without anything being wrong, and what it
    /// could not verify it must not attest either.
    pub(crate) fn sign(&mut self) -> Result<(), SyncError> {
        if sync_db::quarantine_count(self.conn)? > 0 {
            return Ok(());
        }
        let own =
            self.with_tx(|r, conn| Ok(sync_db::own_manifest(conn, &r.zone, &mut r.state)?))?;
        let token = self.state.token;
        let last = sync_db::seen_counter(self.conn, &self.zone, self.me.as_bytes())?;
        let count = sync_db::leaf_count(self.conn)?;
        let counter = self.state.counter.max(last.unwrap_or(0)) + 1;
        let signed = SignedManifest::sign(
            self.identity,
            self.circle.circle_id(),
            &self.zone,
            counter,
            token,
            self.circle.head().0,
            own.root(),
            count,
        );
        let divergent = self.call(|t, z| t.put_manifest(z, &signed))?;
        self.state.counter = counter;
        self.state.divergence_ms = divergent.then(crate::vault::rows::now_ms);
        sync_db::put_peer_manifest(self.conn, false, &signed)?;
        sync_db::put_state(self.conn, &self.zone, &self.state)?;
        Ok(())
    }

    /// The zone reached against the current members' manifests: none may
    /// be ahead of the token, and one at the same token has the same root.
    pub(crate) fn compare(
        &self,
        trusted: &[SignedManifest],
        own: &Manifest,
    ) -> Result<(), SyncError> {
        let token = self.state.token;
        for m in trusted.iter().filter(|m| m.token.epoch == token.epoch) {
            if m.token.seq > token.seq {
                return Err(ZoneError::Withheld {
                    signer: m.signer,
                    signed: m.token.seq,
                    served: token.seq,
                }
                .into());
            }
            if m.token.seq == token.seq && m.root != own.root() {
                // A record this device holds aside (its epoch key has not
                // arrived, its writer is not yet in the log it verified,
                // or it refuses it) explains the difference if the peer's
                // root is the zone with it; so does one it decided on that
                // the server still holds (the peer may have taken what
                // this device dropped).
                if !self.explained(m.root)? {
                    return Err(ZoneError::ManifestMismatch { signer: m.signer }.into());
                }
            }
        }
        Ok(())
    }

    /// Whether `root` is this device's zone with the records it holds
    /// aside applied: those undecided, then with them those decided on
    /// that the server still holds.
    fn explained(&self, root: Digest) -> Result<bool, SyncError> {
        let undecided = records_of(&sync_db::undecided(self.conn, &self.zone)?);
        let mut all = undecided.clone();
        all.extend(records_of(&super::quarantine::decided_live(
            self.conn, &self.zone,
        )?));
        for mut set in [undecided, all] {
            set.sort_by_key(|t| t.tag);
            if !set.is_empty() && self.root_with(&set)? == root {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether the server's `root` is this device's zone, or is it with
    /// the records this device decided on that the server still holds
    /// (a removed peer's record past its cut, a record dropped or
    /// accepted and not yet superseded): a decision keeps no device on
    /// the slow path.
    pub(crate) fn same_root(&self, root: Digest, own: &Manifest) -> Result<bool, SyncError> {
        if root == own.root() {
            return Ok(true);
        }
        let decided = records_of(&super::quarantine::decided_live(self.conn, &self.zone)?);
        Ok(!decided.is_empty() && self.root_with(&decided)? == root)
    }

    /// The root of the server versions held with `records` (in seq order)
    /// applied on top.
    fn root_with(&self, records: &[TaggedRecord]) -> Result<Digest, SyncError> {
        let mut leaves: BTreeMap<Uuid, Leaf> = sync_db::all_leaves(self.conn)?
            .into_iter()
            .map(|l| (l.uuid, l))
            .collect();
        for t in records {
            let r = &t.record;
            if r.tomb() {
                leaves.remove(&r.uuid());
            } else {
                leaves.insert(
                    r.uuid(),
                    Leaf {
                        uuid: r.uuid(),
                        gencount: r.gencount(),
                        content: r.content_hash(),
                    },
                );
            }
        }
        Ok(Manifest::of(&leaves.into_values().collect::<Vec<_>>()).root())
    }

    /// Verifies served manifests: a current member's must verify and never
    /// go back in its counter (nor vanish once seen). Returns the current
    /// members' manifests other than this device's.
    pub(crate) fn check_manifests(
        &mut self,
        manifests: Vec<SignedManifest>,
    ) -> Result<Vec<SignedManifest>, SyncError> {
        let conn = self.conn;
        let circle_id = self.circle.circle_id();
        let mut trusted = Vec::new();
        let mut served = std::collections::HashSet::new();
        for m in manifests {
            let Some(member) = self.circle.member(&m.signer) else {
                continue;
            };
            if m.circle_id != circle_id || m.zone != self.zone || m.verify(&member.keys).is_err() {
                return Err(ZoneError::BadManifest(m.signer).into());
            }
            // Signed at an older zone epoch than the server's: it predates a
            // restore (the backup's copy), so it neither counts against the
            // server nor vouches for the zone. Its signer's next manifest
            // continues from its own counter.
            if m.token.epoch < self.head.epoch {
                served.insert(m.signer);
                continue;
            }
            let seen = sync_db::seen_counter(conn, &self.zone, m.signer.as_bytes())?.unwrap_or(0);
            let seen = if m.signer == self.me {
                seen.max(self.state.counter)
            } else {
                seen
            };
            if m.counter < seen {
                return Err(ZoneError::StaleManifest {
                    signer: m.signer,
                    served: m.counter,
                    seen,
                }
                .into());
            }
            served.insert(m.signer);
            if m.signer == self.me {
                continue;
            }
            if m.counter > seen {
                sync_db::put_peer_manifest(conn, false, &m)?;
            }
            trusted.push(m);
        }
        // A current member whose manifest this device saw must still have one.
        for (peer, _) in self.circle.members() {
            if served.contains(peer) {
                continue;
            }
            let seen = sync_db::seen_counter(conn, &self.zone, peer.as_bytes())?.unwrap_or(0);
            let seen = if *peer == self.me {
                seen.max(self.state.counter)
            } else {
                seen
            };
            // One last seen at an older epoch may have gone with a restore.
            let seen_epoch = sync_db::stored_manifest(conn, &self.zone, peer.as_bytes())?
                .map_or(0, |m| m.token.epoch);
            if seen > 0 && seen_epoch >= self.head.epoch {
                return Err(ZoneError::StaleManifest {
                    signer: *peer,
                    served: 0,
                    seen,
                }
                .into());
            }
        }
        Ok(trusted)
    }

    /// Quarantined records of writers removed since are applied if a
    /// current member's manifest, signed after the removal at this token,
    /// has exactly the root the zone has with them.
    pub(crate) fn release_attested(&mut self, trusted: &[SignedManifest]) -> Result<(), SyncError> {
        let rows = sync_db::undecided(self.conn, &self.zone)?;
        let mut candidates: Vec<TaggedRecord> = Vec::new();
        let mut removal = 0;
        for row in &rows {
            for t in decode_records(&row.record).unwrap_or_default() {
                let removed = self.circle.peer(&t.record.writer()).and_then(|m| m.removed);
                // A removal with a cut decides its peer's records by the
                // cut's list; attestation is for legacy removals only.
                if let Some(r) = removed.filter(|r| !r.cut) {
                    removal = removal.max(r.seq);
                    candidates.push(t);
                }
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        candidates.sort_by_key(|t| t.tag);
        let root = self.root_with(&candidates)?;
        let attested = trusted
            .iter()
            .any(|m| m.token == self.state.token && m.circle_pos >= removal && m.root == root);
        if attested {
            let before = self.report.quarantined.len();
            self.apply_all(&candidates, None, true)?;
            self.report.quarantined.truncate(before);
            self.report
                .quarantined
                .retain(|q| !candidates.iter().any(|c| c.record.uuid() == q.uuid));
        }
        Ok(())
    }
}

/// The records of quarantine rows (each a one-record list; a row that no
/// longer decodes is left out).
fn records_of(rows: &[sync_db::QuarantineRow]) -> Vec<TaggedRecord> {
    rows.iter()
        .filter_map(|q| decode_records(&q.record).ok())
        .flatten()
        .collect()
}
