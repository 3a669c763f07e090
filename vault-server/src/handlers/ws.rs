//! `GET /v1/ws`: a member's push channel. The server sends `hello` once,
//! `circle` when another device appended to the log, `shares` when a share
//! for this device arrived, `zone` when another device's push moved a
//! zone, `pong` for each `ping`, and closes the socket when the device's
//! membership ends or the server stops. Frames carry no item or key data
//! (their types are `vault_proto::frames`', sent through [`crate::frames`]).
//! A socket that fell behind its channel re-checks its membership and is
//! sent one `zone` frame per zone of the circle: what it missed is covered.
//!
//! The per-socket loop ([`run`]) works over any `Sink`/`Stream` pair, so it
//! is tested with channels. Sockets use small buffers: an idle socket costs
//! a few KiB, so 10,000 of them fit in well under 128 MiB.

use crate::error::ApiError;
use crate::extract::Member;
use crate::frames::{ClientFrame, FrameText, ServerFrame};
use crate::notify::Event;
use crate::state::AppState;
use crate::storage::{PeerBytes, StorageError, ZoneSeq};
use axum::extract::State;
use axum::extract::ws::{
    CloseFrame, Message, WebSocketUpgrade, close_code, rejection::WebSocketUpgradeRejection,
};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use uuid::Uuid;
use vault_proto::codec::peer_hex;

/// Read buffer of a socket (client frames are tiny).
const READ_BUFFER: usize = 4 * 1024;
/// Largest client message or frame accepted.
const MAX_MESSAGE: usize = 4 * 1024;
/// Write backlog a slow reader may build before its socket fails.
const MAX_WRITE_BUFFER: usize = 64 * 1024;
/// How often the server pings an idle socket (finds dead peers).
const KEEPALIVE: Duration = Duration::from_secs(60);

/// What one socket serves.
pub struct Session<F> {
    /// The device's circle.
    pub circle_id: Uuid,
    /// The device.
    pub peer: PeerBytes,
    /// The circle's events.
    pub events: broadcast::Receiver<Event>,
    /// When the session token the socket opened with expires: the socket
    /// closes then (the device logs in again and reconnects).
    pub expires: Instant,
    /// Asked after missed events: `None` if the device is no longer a
    /// member (or the check failed: the device reconnects), else every zone
    /// of the circle with its seq.
    pub catch_up: F,
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Serves one socket until the device leaves, its membership ends, or
/// `stopping` resolves.
pub async fn run<S, R, E, F, Fut>(
    mut sink: S,
    mut stream: R,
    mut session: Session<F>,
    stopping: impl Future<Output = ()>,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Vec<ZoneSeq>>>,
{
    let hello = ServerFrame::Hello {
        circle_id: session.circle_id.hyphenated().to_string(),
        peer_id: peer_hex(&session.peer),
    };
    if sink.send(hello.message()).await.is_err() {
        return;
    }
    let me = session.peer;
    let mut keepalive = interval_at(Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let expired = tokio::time::sleep_until(session.expires);
    tokio::pin!(stopping, expired);
    loop {
        let out = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
                    Ok(ClientFrame::Ping) => Some(ServerFrame::Pong.message()),
                    // Unknown frames are ignored (a newer device may send more).
                    Err(_) => None,
                },
                // Protocol pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => None,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            event = session.events.recv() => match event {
                Ok(Event::CircleGrew { head_seq, author }) if author != me => {
                    Some(ServerFrame::Circle { head_seq }.message())
                }
                Ok(Event::SharesArrived { recipient }) if recipient == me => {
                    Some(ServerFrame::Shares.message())
                }
                // The frame was serialized once, for every socket.
                Ok(Event::ZoneChanged(z)) if z.author != me => Some(Message::Text(z.frame.clone())),
                Ok(Event::MemberRemoved { peer }) if peer == me => {
                    let _ = sink.send(close(close_code::POLICY, "membership ended")).await;
                    break;
                }
                Ok(Event::CircleDisabled) => {
                    let _ = sink.send(close(close_code::POLICY, "circle disabled")).await;
                    break;
                }
                // Missed events may have held this device's removal, and
                // zone changes.
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => match (session.catch_up)().await {
                    None => {
                        let _ = sink.send(close(close_code::POLICY, "membership ended")).await;
                        break;
                    }
                    Some(zones) => {
                        let mut sent = Ok(());
                        for z in zones {
                            let frame = ServerFrame::Zone { zone: z.zone, seq: z.seq };
                            sent = sink.feed(frame.message()).await;
                            if sent.is_err() {
                                break;
                            }
                        }
                        if sent.is_err() || sink.flush().await.is_err() {
                            break;
                        }
                        None
                    }
                },
                Ok(_) => None,
                Err(RecvError::Closed) => break,
            },
            _ = keepalive.tick() => Some(Message::Ping(Default::default())),
            () = &mut expired => {
                let _ = sink.send(close(close_code::POLICY, "session expired")).await;
                break;
            }
            () = &mut stopping => {
                let _ = sink.send(close(close_code::AWAY, "server shutting down")).await;
                break;
            }
        };
        if let Some(message) = out
            && sink.send(message).await.is_err()
        {
            break;
        }
    }
}

/// Upgrades an authenticated request to a WebSocket.
pub async fn upgrade(
    State(state): State<AppState>,
    member: Member,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|_| ApiError::invalid("expected a WebSocket upgrade"))?;
    if state.shutting_down() {
        return Err(ApiError::Unavailable("the server is shutting down"));
    }
    // Subscribe before the upgrade: nothing after `hello` is missed.
    let events = state.notifier().subscribe(member.circle_id);
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _open = state.socket_guard();
            let (sink, stream) = socket.split();
            let check = state.clone();
            let left = u64::try_from(member.expires - crate::state::unix_now()).unwrap_or(0);
            let session = Session {
                circle_id: member.circle_id,
                peer: member.peer,
                events,
                expires: Instant::now() + Duration::from_secs(left),
                catch_up: move || {
                    let state = check.clone();
                    async move {
                        let (circle, peer) = (member.circle_id, member.peer);
                        let found = state
                            .db_raw(move |s| {
                                if s.member(circle, &peer)?.removed {
                                    return Ok::<_, StorageError>(None);
                                }
                                s.zone_seqs(circle).map(Some)
                            })
                            .await;
                        // A failed check closes the socket: the device reconnects.
                        match found {
                            Ok(Ok(zones)) => zones,
                            _ => None,
                        }
                    }
                },
            };
            run(sink, stream, session, state.stopping()).await;
        }))
}

#[cfg(test)]
mod tests;
