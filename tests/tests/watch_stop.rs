//! vault-client's sync loop (`watcher::run`) ends within a second of its
//! stop signal turning true on another thread: while it waits for
//! events between rounds, and while it backs off after the server went
//! away. Another front end (vault-ffi) cancels it that way.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Device, PASSWORD, ServerProc};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vault_client::session::SessionError;
use vault_client::watcher::{self, WatchListener};
use vault_client::{Outcome, Session};
use vault_core::{UnlockedVault, Vault};

/// How long the loop may take to end once stopped.
const STOP_WITHIN: Duration = Duration::from_secs(1);

/// What the loop told, sent to the test's thread.
#[derive(Debug)]
enum Told {
    Synced,
    Error(#[allow(dead_code)] String),
}

struct Listener(mpsc::Sender<Told>);

impl WatchListener for Listener {
    fn on_synced(&mut self, _: &mut UnlockedVault, _: &Outcome) {
        let _ = self.0.send(Told::Synced);
    }
    fn on_error(&mut self, error: &SessionError, _: Duration) -> bool {
        let _ = self.0.send(Told::Error(error.to_string()));
        true
    }
    fn on_outage(&mut self, _: &str, _: Duration) {}
}

/// A device in a one-device circle on `server`, its vault unlocked here.
fn member(server: &ServerProc) -> (Device, UnlockedVault) {
    let d = Device::init("alpha");
    d.create_circle(server);
    let vault = Vault::open(&d.vault).unwrap().unlock(PASSWORD).unwrap();
    (d, vault)
}

/// The loop's thread: what it returned, and when.
type Looping = thread::JoinHandle<(Result<(), SessionError>, Instant)>;

/// Starts the loop on its own thread: the stop's sender, what it tells,
/// and the thread (its result: the loop's, and when it returned).
fn start(mut vault: UnlockedVault) -> (watch::Sender<bool>, mpsc::Receiver<Told>, Looping) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (told_tx, told) = mpsc::channel();
    let looping = thread::spawn(move || {
        let rt = vault_client::background_runtime().unwrap();
        let circle_id = vault.circle().unwrap().unwrap().circle_id;
        let session = Session::new(rt.handle().clone(), circle_id);
        let mut listener = Listener(told_tx);
        let result = watcher::run(session, &mut vault, rt.handle(), stop_rx, &mut listener);
        let ended = Instant::now();
        rt.shutdown_background();
        (result, ended)
    });
    (stop_tx, told, looping)
}

/// Stops the loop and asserts it ended, without error, within
/// [`STOP_WITHIN`].
fn stop_and_check(stop: watch::Sender<bool>, looping: Looping) {
    let stopped = Instant::now();
    stop.send(true).unwrap();
    let deadline = stopped + Duration::from_secs(10);
    while !looping.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the loop did not end within 10 s of the stop"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let (result, ended) = looping.join().unwrap();
    result.unwrap();
    let took = ended.saturating_duration_since(stopped);
    assert!(
        took < STOP_WITHIN,
        "the loop took {took:?} to end after the stop"
    );
}

#[test]
fn stop_ends_the_loop_while_it_waits_for_events() {
    let server = ServerProc::start();
    let (_device, vault) = member(&server);
    let (stop, told, looping) = start(vault);
    match told.recv_timeout(Duration::from_secs(30)) {
        Ok(Told::Synced) => {}
        other => panic!("expected a first round, got {other:?}"),
    }
    // Past the first round and the socket's first wait: idle.
    thread::sleep(Duration::from_millis(2500));
    assert!(
        !looping.is_finished(),
        "the loop ended before it was stopped"
    );
    stop_and_check(stop, looping);
}

#[test]
fn stop_ends_the_loop_while_it_backs_off() {
    let mut server = ServerProc::start();
    let (device, vault) = member(&server);
    let (stop, told, looping) = start(vault);
    match told.recv_timeout(Duration::from_secs(30)) {
        Ok(Told::Synced) => {}
        other => panic!("expected a first round, got {other:?}"),
    }
    // The server goes away; a local change makes the next round fail,
    // and the loop backs off.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    device.add_inet("example.org", "someone", "a password");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match told.recv_timeout(left) {
            Ok(Told::Error(_)) => break,
            Ok(Told::Synced) => continue,
            Err(e) => panic!("no failed round after the server went away: {e}"),
        }
    }
    stop_and_check(stop, looping);
}
