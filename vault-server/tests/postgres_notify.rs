//! The PostgreSQL notifier against a real server: two instances' hints
//! cross through LISTEN/NOTIFY, and a listener whose connection is killed
//! comes back and tells its sockets to resync. Skipped, saying so, without
//! `VAULT_TEST_POSTGRES_URL`; a failure in CI (see `common::pg`).
#![allow(clippy::unwrap_used)]

mod common;

use common::pg::TestDb;
use std::time::Duration;
use vault_server::notify::pg::{LISTENER_NAME, PgNotifier};
use vault_server::notify::{Event, Notifier, ZoneChange};
use vault_server::relay::RelayHub;

/// The next event on `rx` within `secs` seconds.
async fn next(rx: &mut tokio::sync::broadcast::Receiver<Event>, secs: u64) -> Event {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("no event in time")
        .unwrap()
}

/// Publishes a zone event on `from` until `there` (another instance's
/// channel) receives it; `here` (`from`'s own) gets each at once.
async fn until_crossed(
    from: &PgNotifier,
    here: &mut tokio::sync::broadcast::Receiver<Event>,
    there: &mut tokio::sync::broadcast::Receiver<Event>,
    circle: uuid::Uuid,
) {
    let zone = ZoneChange::event("keychain", 1, [1; 32]);
    for _ in 0..50 {
        from.publish(circle, zone.clone());
        assert_eq!(next(here, 1).await, zone, "delivered locally at once");
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), there.recv()).await {
            assert_eq!(e, zone);
            return;
        }
    }
    panic!("no hint crossed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_cross_instances_and_a_lost_listener_resyncs_its_sockets() {
    let Some(db) = TestDb::create("notify") else {
        return;
    };
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let relay_b = std::sync::Arc::new(RelayHub::default());
    let a = PgNotifier::start(config.clone(), std::sync::Arc::default());
    let b = PgNotifier::start(config, relay_b.clone());
    let circle = uuid::Uuid::new_v4();
    let mut on_a = a.subscribe(circle);
    let mut on_b = b.subscribe(circle);
    // A listener is up once a hint gets through to it; until then (hints
    // sent meanwhile are lost, by design), send again. Both ways.
    until_crossed(&a, &mut on_a, &mut on_b, circle).await;
    until_crossed(&b, &mut on_b, &mut on_a, circle).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while on_a.try_recv().is_ok() {}
    while on_b.try_recv().is_ok() {}
    // A removal closes sockets elsewhere; the hint carries the peer.
    let removed = Event::MemberRemoved { peer: [9; 32] };
    a.publish(circle, removed.clone());
    assert_eq!(next(&mut on_b, 2).await, removed);
    // B does not hear its own events twice, nor A's own back.
    b.publish(circle, Event::SharesArrived { recipient: [3; 32] });
    assert_eq!(
        next(&mut on_b, 1).await,
        Event::SharesArrived { recipient: [3; 32] }
    );
    assert_eq!(next(&mut on_a, 1).await, removed);
    assert_eq!(
        next(&mut on_a, 2).await,
        Event::SharesArrived { recipient: [3; 32] },
        "B's event reached A"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(on_b.try_recv().is_err(), "an instance skips its own hints");
    // A relay post on A wakes a reader waiting on B.
    let channel = relay_b.channel(&[4; 16]);
    let woken = channel.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    a.relay_posted(&[4; 16]);
    tokio::time::timeout(Duration::from_secs(2), woken)
        .await
        .expect("the relay reader on B was not woken");
    // B's listening connection is killed: it comes back and tells its
    // sockets to resync.
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = '{LISTENER_NAME}'"
    ));
    assert_eq!(next(&mut on_b, 10).await, Event::Resync);
    assert_eq!(
        b.counts()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // And hints flow again.
    let later = ZoneChange::event("keychain", 2, [1; 32]);
    let mut arrived = false;
    for _ in 0..50 {
        a.publish(circle, later.clone());
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), on_b.recv()).await
            && e == later
        {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "no hint crossed after the reconnect");
}
