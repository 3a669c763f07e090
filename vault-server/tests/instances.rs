//! Two server instances in one process, each with its own state, pool,
//! notifier and listener, on one PostgreSQL database (skipped, saying so,
//! without a cluster; a failure in CI): concurrent pushes through both
//! take every seq once in commit order, and readers paging "since token"
//! meanwhile never skip a record.
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::TestDb;
use common::sync::*;
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use vault_core::sync::Token;

const WRITERS: u32 = 8;
const BATCHES: u32 = 15;
const PER_BATCH: u32 = 20;

/// Every record a reader saw, by seq, paging from seq 0 through `s`
/// until `done` and then once more to the end.
async fn read_all(
    s: &Server,
    token: &str,
    circle: uuid::Uuid,
    done: &AtomicBool,
) -> BTreeMap<u64, uuid::Uuid> {
    let mut seen = BTreeMap::new();
    let mut since: Option<Token> = None;
    loop {
        let finished = done.load(Ordering::SeqCst);
        loop {
            let query = match since {
                Some(t) => format!("since={}&limit=37", t.to_text()),
                None => "limit=37".to_owned(),
            };
            let page = changes_ok(s, token, circle, &query).await;
            for r in &page.records {
                assert!(
                    seen.insert(r.tag, r.record.uuid()).is_none(),
                    "seq {} twice",
                    r.tag
                );
            }
            since = Some(page.token);
            if !page.more {
                break;
            }
        }
        if finished {
            return seen;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_through_two_instances_take_every_seq_once_and_readers_skip_nothing() {
    let Some(db) = TestDb::create("twoinst") else {
        return;
    };
    let url = db.url.clone();
    let p = pair_with(|c| c.db = url.parse().unwrap()).await;
    let url = db.url.clone();
    let other = Arc::new(Server::with(|c| c.db = url.parse().unwrap()).await);
    let first = Arc::new(p.s);
    let servers = [first.clone(), other.clone()];
    let a = Arc::new(p.a);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (s, t, done) = (servers[r].clone(), p.tb.clone(), done.clone());
            tokio::spawn(async move { read_all(&s, &t, p.circle, &done).await })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (s, t, a) = (servers[w as usize % 2].clone(), p.ta.clone(), a.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for b in 0..BATCHES {
                    let batch: Vec<_> = (0..PER_BATCH)
                        .map(|i| {
                            tagged(0, record(&a, uuid_in(w as u8, b * PER_BATCH + i), 1, false))
                        })
                        .collect();
                    let seqs = saved_seqs(&push_ok(&s, &t, p.circle, &batch).await);
                    // One writer's batches commit one after another.
                    if let (Some(last), Some(next)) = (mine.last(), seqs.first()) {
                        assert!(next > last, "writer {w}: {next} after {last}");
                    }
                    mine.extend(seqs);
                }
                mine
            })
        })
        .collect();
    let mut taken = Vec::new();
    for w in writers {
        taken.extend(w.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let n = u64::from(WRITERS * BATCHES * PER_BATCH);
    taken.sort_unstable();
    assert_eq!(taken, (1..=n).collect::<Vec<_>>(), "every seq exactly once");
    // The final table, as a reader from scratch sees it.
    let finished = AtomicBool::new(true);
    let table = read_all(&first, &p.tb, p.circle, &finished).await;
    assert_eq!(table.len() as u64, n);
    for r in readers {
        let seen = r.await.unwrap();
        assert_eq!(
            seen, table,
            "a reader paging meanwhile skipped or misread a record"
        );
    }
}
