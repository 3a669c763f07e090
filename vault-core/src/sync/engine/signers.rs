//! Record signatures checked ahead of the apply: each writer's key decoded
//! once, records checked in batches on every core, and a pull's pages
//! checked on a worker thread while the next page downloads and the
//! settle applies the pages already checked. A verdict is only the
//! signature's: membership, cut lists and the rest are judged when the
//! record is applied.

use crate::circle::{CircleState, PeerId, parallel_map};
use crate::crypto::VerifyingKey;
use crate::sync::TaggedRecord;
use crate::sync::record::verify_records;
use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use uuid::Uuid;

/// One verdict per record: `None` when its writer is no peer of the circle.
pub(crate) type Verdicts = Vec<Option<bool>>;

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
    pub(crate) fn verdicts(&self, records: &[TaggedRecord]) -> Verdicts {
        let chunks: Vec<&[TaggedRecord]> = records.chunks(BATCH).collect();
        parallel_map(&chunks, 1, |c| self.batch(c))
            .into_iter()
            .flatten()
            .collect()
    }

    /// One batch's verdicts.
    fn batch(&self, records: &[TaggedRecord]) -> Verdicts {
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

/// Checks pages on a worker thread, in the order they are handed over,
/// while the pull downloads the next and the settle applies the last.
pub(crate) struct PageChecker {
    pages: mpsc::Sender<(u64, Arc<[TaggedRecord]>)>,
    verdicts: mpsc::Receiver<(u64, Verdicts)>,
}

impl PageChecker {
    /// The worker stops once the checker is dropped and its queue is done.
    pub(crate) fn start(signers: Signers) -> Self {
        let (pages, inbox) = mpsc::channel::<(u64, Arc<[TaggedRecord]>)>();
        let (outbox, verdicts) = mpsc::channel();
        std::thread::spawn(move || {
            for (id, page) in inbox {
                let v = page.chunks(BATCH).flat_map(|c| signers.batch(c)).collect();
                if outbox.send((id, v)).is_err() {
                    return;
                }
            }
        });
        PageChecker { pages, verdicts }
    }

    /// Hands over a page, under an id that grows with each page.
    pub(crate) fn check(&self, id: u64, page: Arc<[TaggedRecord]>) {
        // A worker that is gone shows in `verdicts_of`.
        let _ = self.pages.send((id, page));
    }

    /// The verdicts of page `id`, once they are ready (those of pages
    /// before it are passed over); `None` if the worker is gone (its
    /// records are then checked when applied).
    pub(crate) fn verdicts_of(&self, id: u64) -> Option<Verdicts> {
        loop {
            let (got, verdicts) = self.verdicts.recv().ok()?;
            if got == id {
                return Some(verdicts);
            }
            if got > id {
                return None;
            }
        }
    }
}
