//! The per-socket loop over channels: frames, filtering, closing.
#![allow(clippy::unwrap_used)]

use super::*;
use futures_util::{sink, stream};
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

struct Harness {
    to_server: mpsc::UnboundedSender<Result<Message, ()>>,
    from_server: mpsc::UnboundedReceiver<Message>,
    events: broadcast::Sender<Event>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

const ME: PeerBytes = [1; 32];
const OTHER: PeerBytes = [2; 32];

/// A socket whose lag check answers `catch_up` (`None`: removed).
fn start(capacity: usize, catch_up: Option<Vec<ZoneSeq>>) -> Harness {
    start_until(capacity, catch_up, Duration::from_secs(3600))
}

/// [`start`], its session token expiring in `left`.
fn start_until(capacity: usize, catch_up: Option<Vec<ZoneSeq>>, left: Duration) -> Harness {
    let (to_server, rx) = mpsc::unbounded_channel::<Result<Message, ()>>();
    let (tx, from_server) = mpsc::unbounded_channel::<Message>();
    let sink: Pin<Box<dyn Sink<Message, Error = ()> + Send>> =
        Box::pin(sink::unfold(tx, |tx, m: Message| async move {
            tx.send(m).map_err(|_| ())?;
            Ok::<_, ()>(tx)
        }));
    let incoming = Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }));
    let (events, receiver) = broadcast::channel(capacity);
    let (stop, stopped) = oneshot::channel::<()>();
    let session = Session {
        circle_id: Uuid::nil(),
        peer: ME,
        events: receiver,
        expires: Instant::now() + left,
        catch_up: move || {
            let answer = catch_up.clone();
            async move { answer }
        },
    };
    let task = tokio::spawn(run(sink, incoming, session, async {
        let _ = stopped.await;
    }));
    Harness {
        to_server,
        from_server,
        events,
        stop: Some(stop),
        task,
    }
}

async fn next_json(h: &mut Harness) -> serde_json::Value {
    match h.from_server.recv().await.unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn next_close_code(h: &mut Harness) -> u16 {
    match h.from_server.recv().await.unwrap() {
        Message::Close(Some(f)) => f.code,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// The adapter sends a frame as vault-proto serializes it (whose tests
/// pin every frame's JSON).
#[test]
fn frames_are_sent_as_their_json() {
    let zone = ServerFrame::Zone {
        zone: "keychain".into(),
        seq: 12,
    };
    assert_eq!(
        zone.text().as_str(),
        r#"{"type":"zone","zone":"keychain","seq":12}"#
    );
    assert_eq!(
        zone.message(),
        Message::Text(serde_json::to_string(&zone).unwrap().into())
    );
}

#[tokio::test]
async fn hello_then_pong_for_ping_and_unknown_frames_ignored() {
    let mut h = start(8, Some(Vec::new()));
    let hello = next_json(&mut h).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["circle_id"], Uuid::nil().to_string());
    assert_eq!(hello["peer_id"], peer_hex(&ME));
    h.to_server
        .send(Ok(Message::Text(r#"{"type":"dance"}"#.into())))
        .unwrap();
    h.to_server
        .send(Ok(Message::Text(r#"{"type":"ping"}"#.into())))
        .unwrap();
    assert_eq!(next_json(&mut h).await, serde_json::json!({"type": "pong"}));
    h.to_server.send(Ok(Message::Close(None))).unwrap();
    h.task.await.unwrap();
}

#[tokio::test]
async fn events_are_filtered_for_this_device() {
    let mut h = start(8, Some(Vec::new()));
    next_json(&mut h).await;
    h.events
        .send(Event::CircleGrew {
            head_seq: 3,
            author: ME,
        })
        .unwrap();
    h.events
        .send(Event::SharesArrived { recipient: OTHER })
        .unwrap();
    h.events.send(Event::MemberRemoved { peer: OTHER }).unwrap();
    h.events
        .send(Event::CircleGrew {
            head_seq: 4,
            author: OTHER,
        })
        .unwrap();
    h.events
        .send(Event::SharesArrived { recipient: ME })
        .unwrap();
    assert_eq!(
        next_json(&mut h).await,
        serde_json::json!({"type": "circle", "head_seq": 4})
    );
    assert_eq!(
        next_json(&mut h).await,
        serde_json::json!({"type": "shares"})
    );
    h.events.send(Event::MemberRemoved { peer: ME }).unwrap();
    assert_eq!(next_close_code(&mut h).await, close_code::POLICY);
    h.task.await.unwrap();
}

#[tokio::test]
async fn the_socket_closes_when_its_session_token_expires() {
    let mut h = start_until(8, Some(Vec::new()), Duration::from_millis(300));
    next_json(&mut h).await;
    let t = std::time::Instant::now();
    assert_eq!(next_close_code(&mut h).await, close_code::POLICY);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    h.task.await.unwrap();
}

#[tokio::test]
async fn a_disabled_circle_closes_every_socket() {
    let mut h = start(8, Some(Vec::new()));
    next_json(&mut h).await;
    h.events.send(Event::CircleDisabled).unwrap();
    assert_eq!(next_close_code(&mut h).await, close_code::POLICY);
    h.task.await.unwrap();
}

#[tokio::test]
async fn a_lagging_socket_rechecks_membership() {
    let mut h = start(1, None);
    next_json(&mut h).await;
    // Overflow the one-slot channel before the loop reads it.
    for head_seq in 0..4 {
        let _ = h.events.send(Event::CircleGrew {
            head_seq,
            author: OTHER,
        });
    }
    assert_eq!(next_close_code(&mut h).await, close_code::POLICY);
    h.task.await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_with_going_away() {
    let mut h = start(8, Some(Vec::new()));
    next_json(&mut h).await;
    h.stop.take().unwrap().send(()).unwrap();
    assert_eq!(next_close_code(&mut h).await, close_code::AWAY);
    h.task.await.unwrap();
}

#[tokio::test]
async fn the_loop_ends_when_the_device_goes() {
    let mut h = start(8, Some(Vec::new()));
    next_json(&mut h).await;
    drop(h.to_server);
    h.task.await.unwrap();
}

#[tokio::test]
async fn zone_frames_reach_every_device_but_the_author() {
    let mut h = start(8, Some(Vec::new()));
    next_json(&mut h).await;
    h.events
        .send(crate::notify::ZoneChange::event("keychain", 3, ME))
        .unwrap();
    h.events
        .send(crate::notify::ZoneChange::event("keychain", 5, OTHER))
        .unwrap();
    assert_eq!(
        next_json(&mut h).await,
        serde_json::json!({"type": "zone", "zone": "keychain", "seq": 5})
    );
    h.to_server.send(Ok(Message::Close(None))).unwrap();
    h.task.await.unwrap();
    assert!(
        h.from_server.try_recv().is_err(),
        "nothing about its own push"
    );
}

#[tokio::test]
async fn a_lagging_member_is_told_every_zone_seq() {
    let zones = vec![
        ZoneSeq {
            zone: "keychain".into(),
            seq: 40,
        },
        ZoneSeq {
            zone: "notes".into(),
            seq: 2,
        },
    ];
    let mut h = start(1, Some(zones));
    next_json(&mut h).await;
    for seq in 0..4 {
        let _ = h
            .events
            .send(crate::notify::ZoneChange::event("keychain", seq, OTHER));
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_json(&mut h).await);
    }
    // The catch-up frames, then the one event the channel still held.
    assert_eq!(
        got,
        [
            serde_json::json!({"type": "zone", "zone": "keychain", "seq": 40}),
            serde_json::json!({"type": "zone", "zone": "notes", "seq": 2}),
            serde_json::json!({"type": "zone", "zone": "keychain", "seq": 3}),
        ]
    );
    h.to_server.send(Ok(Message::Close(None))).unwrap();
    h.task.await.unwrap();
}

#[tokio::test]
async fn a_resync_rechecks_membership_and_tells_every_zone_seq() {
    let zones = vec![ZoneSeq {
        zone: "keychain".into(),
        seq: 7,
    }];
    let mut h = start(8, Some(zones));
    next_json(&mut h).await;
    h.events.send(Event::Resync).unwrap();
    assert_eq!(
        next_json(&mut h).await,
        serde_json::json!({"type": "zone", "zone": "keychain", "seq": 7})
    );
    h.to_server.send(Ok(Message::Close(None))).unwrap();
    h.task.await.unwrap();
    // A removed device's socket closes on a resync.
    let mut h = start(8, None);
    next_json(&mut h).await;
    h.events.send(Event::Resync).unwrap();
    assert_eq!(next_close_code(&mut h).await, close_code::POLICY);
    h.task.await.unwrap();
}
