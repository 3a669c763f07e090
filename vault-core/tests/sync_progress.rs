//! The sync engine's progress reports against the in-memory server: a
//! push reports each batch against the outbox, a pull each staged page
//! against the changes up to the announced head.
#![allow(clippy::unwrap_used)]

mod sync_support;

use sync_support::Circle;
use vault_core::item::{InternetPassword, ItemData};

fn inet(server: &str, account: &str, password: &str) -> ItemData {
    ItemData::Inet(InternetPassword {
        server: server.into(),
        account: account.into(),
        password: password.into(),
        ..Default::default()
    })
}

#[test]
fn long_pulls_and_pushes_report_their_progress() {
    use vault_core::sync::{Phase, Progress};
    let mut c = Circle::new(2);
    let items: Vec<ItemData> = (0..2500)
        .map(|n| inet(&format!("p{n}.example"), "u", "p"))
        .collect();
    c.v(0).add_batch(items).unwrap();
    c.server.borrow_mut().progress.clear();
    c.sync(0).unwrap();
    let reports = std::mem::take(&mut c.server.borrow_mut().progress);
    // A's round pulls nothing (0 of 0) and pushes in batches of 500.
    let pushed: Vec<Progress> = reports
        .iter()
        .copied()
        .filter(|p| p.phase == Phase::Push)
        .collect();
    let dones: Vec<u64> = pushed.iter().map(|p| p.done).collect();
    assert_eq!(dones, [500, 1000, 1500, 2000, 2500], "{reports:?}");
    assert!(pushed.iter().all(|p| p.total == 2500), "{pushed:?}");
    assert!(
        reports
            .iter()
            .all(|p| p.phase == Phase::Push || (p.done, p.total) == (0, 0)),
        "{reports:?}"
    );
    c.sync(1).unwrap();
    let pulled: Vec<Progress> = std::mem::take(&mut c.server.borrow_mut().progress)
        .into_iter()
        .filter(|p| p.phase == Phase::Pull)
        .collect();
    assert!(pulled.len() >= 2, "one report per page: {pulled:?}");
    assert!(pulled.iter().all(|p| p.done <= p.total));
    assert!(
        pulled.windows(2).all(|w| w[0].done < w[1].done),
        "{pulled:?}"
    );
    assert_eq!(
        pulled.last(),
        Some(&Progress {
            phase: Phase::Pull,
            done: 2500,
            total: 2500
        })
    );
}
