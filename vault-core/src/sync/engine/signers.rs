//! Record signatures checked ahead of the apply: each writer's key decoded
//! once, records checked in batches on every core, and a pull's pages
//! checked on a worker thread while the next page downloads. A verdict is
//! only the signature's: membership, cut lists and the rest are judged
//! when the record is applied.

use crate::circle::{CircleState, PeerId, parallel_map};
use crate::crypto::VerifyingKey;
use crate::sync::TaggedRecord;
use crate::sync::record::verify_records;
use std::collections::HashMap;
use std::sync::mpsc;
use uuid::Uuid;

/// Records per signature batch: enough to share the work, few enough that
/// a batch spoilt by one bad record costs little to redo one by one.
const BATCH: usize = 256;

/// The keys of every peer the circle ever had, decoded once, and what a
/// record signature binds besides (the circle and the zone).
pub(crate) struct Signers {
    circle_id: Uuid,
    zone: String,
    keys: HashMap<PeerId, VerifyingKey>,
}

impl Signers {
    pub(crate) fn of(circle: &CircleState, zone: &str) -> Self {
        let keys = circle
            .members()
            .chain(circle.removed())
            .filter(|(id, m)| m.keys.peer_id() == **id)
            .filter_map(|(id, m)| Some((*id, m.keys.verifying_key().ok()?)))
            .collect();
        Signers {
            circle_id: circle.circle_id(),
            zone: zone.to_owned(),
            keys,
        }
    }

    /// Each record's signature: `None` when its writer is no peer of the
    /// circle (it is judged, and refused, when applied). Split across the
    /// cores when there are several batches.
    pub(crate) fn verdicts(&self, records: &[TaggedRecord]) -> Vec<Option<bool>> {
        let chunks: Vec<&[TaggedRecord]> = records.chunks(BATCH).collect();
        parallel_map(&chunks, 1, |c| self.batch(c))
            .into_iter()
            .flatten()
            .collect()
    }

    /// One batch's verdicts.
    fn batch(&self, records: &[TaggedRecord]) -> Vec<Option<bool>> {
        let known: Vec<_> = records
            .iter()
            .filter_map(|t| Some((&t.record, self.keys.get(&t.record.writer())?)))
            .collect();
        let mut checked = verify_records(&known, self.circle_id, &self.zone).into_iter();
        records
            .iter()
            .map(|t| {
                self.keys
                    .contains_key(&t.record.writer())
                    .then(|| checked.next().unwrap_or(false))
            })
            .collect()
    }
}

/// A pull's pages, in the order they were staged, with their verdicts.
#[derive(Default)]
pub(crate) struct Checked {
    pub records: Vec<TaggedRecord>,
    pub verdicts: Vec<Option<bool>>,
}

/// Checks pages on a worker thread of `scope` as the pull hands them over.
pub(crate) struct PageChecker<'scope> {
    pages: mpsc::Sender<Vec<TaggedRecord>>,
    worker: std::thread::ScopedJoinHandle<'scope, Checked>,
}

impl<'scope> PageChecker<'scope> {
    pub(crate) fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        signers: &'scope Signers,
    ) -> Self {
        let (pages, inbox) = mpsc::channel::<Vec<TaggedRecord>>();
        let worker = scope.spawn(move || {
            let mut done = Checked::default();
            for page in inbox {
                let mut verdicts = page.chunks(BATCH).flat_map(|c| signers.batch(c)).collect();
                done.verdicts.append(&mut verdicts);
                done.records.extend(page);
            }
            done
        });
        PageChecker { pages, worker }
    }

    /// Hands over the next page.
    pub(crate) fn check(&self, page: Vec<TaggedRecord>) {
        // The worker only stops when the sender is dropped (or it panicked,
        // which `finish` reports).
        let _ = self.pages.send(page);
    }

    /// Every page's records and verdicts, once the last is checked.
    pub(crate) fn finish(self) -> Checked {
        drop(self.pages);
        match self.worker.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
