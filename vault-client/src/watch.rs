//! The watcher's WebSocket to the sync server (`GET /v1/ws`, bearer
//! token on the upgrade): it turns the server's hints into [`Event`]s and
//! reconnects with backoff when the socket drops. Frames carry no item
//! or key data; everything they hint at is fetched and verified by a sync.

use crate::backoff::Backoff;
use crate::server::Server;
use futures_util::{SinkExt, StreamExt};
use std::sync::mpsc::Sender;
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use vault_proto::{ClientFrame, ServerFrame};

/// How often the device asks for a pong.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Silence after which the socket counts as dead.
const SILENCE: Duration = Duration::from_secs(75);
/// How long the upgrade may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the socket tells the sync loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The socket is up (`hello`): anything may have changed while it
    /// was down, so sync.
    Connected,
    /// Another device changed a zone.
    Zone,
    /// The circle log grew, or a key share for this device arrived.
    Circle,
    /// The server refused the token (expired or revoked) or ended this
    /// device's membership: authenticate again.
    Unauthorized,
    /// The socket is down and will be retried (sent once per outage):
    /// what failed, and the wait before the next try.
    Outage {
        /// What failed, in words.
        reason: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// The caller's own stop (e.g. SIGINT); the socket never sends it.
    Stop,
}

/// Where the watcher connects: the server's `/v1/ws` and its TLS setup.
#[derive(Clone)]
pub struct WatchTarget {
    url: String,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl WatchTarget {
    /// The WebSocket URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Server {
    /// The WebSocket endpoint of this server, over the same TLS setup.
    pub fn watch_target(&self) -> WatchTarget {
        let url = self.url();
        let url = match url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}/v1/ws"),
            None => format!("ws://{}/v1/ws", url.trim_start_matches("http://")),
        };
        WatchTarget {
            url,
            tls: self.tls_config(),
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

enum ConnectError {
    /// 401 or 403 on the upgrade.
    Refused,
    /// Anything else.
    Failed(String),
}

/// Keeps a socket open with the latest token from `tokens`, to the server
/// that issued it (the session's server: after a failover, another of the
/// circle's servers), sending hints to `events`, until `events` closes.
/// Waits while there is no token; on a refusal, reports
/// [`Event::Unauthorized`] and waits for a new one; reconnects with
/// jittered backoff.
pub async fn run(
    mut tokens: watch::Receiver<Option<(String, WatchTarget)>>,
    events: Sender<Event>,
) {
    let mut backoff = Backoff::default();
    // Whether the current outage was reported (one warning per outage).
    let mut reported = false;
    loop {
        let token = tokens.borrow_and_update().clone();
        let Some((token, target)) = token else {
            if tokens.changed().await.is_err() {
                return;
            }
            continue;
        };
        let failure = match connect(&target, &token).await {
            Ok(ws) => match session(ws, &events, &mut backoff).await {
                Some(reason) => {
                    reported = false;
                    reason
                }
                None => return,
            },
            Err(ConnectError::Refused) => {
                if events.send(Event::Unauthorized).is_err() || tokens.changed().await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            Err(ConnectError::Failed(reason)) => reason,
        };
        let delay = backoff.next_delay();
        if !reported {
            let outage = Event::Outage {
                reason: failure,
                retry_in: delay,
            };
            if events.send(outage).is_err() {
                return;
            }
            reported = true;
        }
        tokio::time::sleep(delay).await;
    }
}

async fn connect(target: &WatchTarget, token: &str) -> Result<Ws, ConnectError> {
    let mut req = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Failed(e.to_string()))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| ConnectError::Failed("the token is not a header value".into()))?;
    req.headers_mut().insert("authorization", bearer);
    // The server's frames are short hints: a message past 64 KiB is a
    // protocol error, not a buffer to fill.
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10));
    let connector = target.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let upgrade =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(config), false, connector);
    match tokio::time::timeout(CONNECT_TIMEOUT, upgrade).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(r))) if matches!(r.status().as_u16(), 401 | 403) => {
            Err(ConnectError::Refused)
        }
        Ok(Err(e)) => Err(ConnectError::Failed(
            crate::tls::handshake_failure(&e).unwrap_or_else(|| e.to_string()),
        )),
        Err(_) => Err(ConnectError::Failed("the upgrade timed out".into())),
    }
}

/// Relays one socket's hints until it drops: `Some(why)`, or `None` once
/// nobody listens to `events` any more.
async fn session(ws: Ws, events: &Sender<Event>, backoff: &mut Backoff) -> Option<String> {
    let ping_frame = match serde_json::to_string(&ClientFrame::Ping) {
        Ok(text) => text,
        Err(e) => return Some(e.to_string()),
    };
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            got = tokio::time::timeout(SILENCE, stream.next()) => match got {
                Err(_) => return Some(format!("no answer for {}s", SILENCE.as_secs())),
                Ok(None) => return Some("the server closed the connection".into()),
                Ok(Some(Err(e))) => return Some(e.to_string()),
                Ok(Some(Ok(Message::Text(t)))) => match hint(t.as_str()) {
                    Some(Event::Connected) => {
                        backoff.reset();
                        Some(Event::Connected)
                    }
                    other => other,
                },
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let ended = frame.as_ref().is_some_and(|f| u16::from(f.code) == 1008);
                    if ended && events.send(Event::Unauthorized).is_err() {
                        return None;
                    }
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Some(format!("the server closed the connection: {why}"));
                }
                // Protocol pings are answered by tungstenite itself.
                Ok(Some(Ok(_))) => None,
            },
            _ = ping.tick() => {
                if let Err(e) = sink.send(Message::text(ping_frame.as_str())).await {
                    return Some(e.to_string());
                }
                None
            }
        };
        if let Some(event) = event
            && events.send(event).is_err()
        {
            let _ = sink.close().await;
            return None;
        }
    }
}

/// The event a text frame hints at (`hello`, `zone`, `circle`, `shares`);
/// `pong` and frames that are no [`ServerFrame`] (an unknown `type`, a
/// malformed one) hint at nothing.
fn hint(text: &str) -> Option<Event> {
    match serde_json::from_str(text).ok()? {
        ServerFrame::Hello { .. } => Some(Event::Connected),
        ServerFrame::Zone { .. } => Some(Event::Zone),
        ServerFrame::Circle { .. } | ServerFrame::Shares => Some(Event::Circle),
        ServerFrame::Pong => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_map_to_hints() {
        let hello = r#"{"type":"hello","circle_id":"x","peer_id":"y"}"#;
        assert_eq!(hint(hello), Some(Event::Connected));
        assert_eq!(
            hint(r#"{"type":"zone","zone":"keychain","seq":4}"#),
            Some(Event::Zone)
        );
        assert_eq!(
            hint(r#"{"type":"circle","head_seq":3}"#),
            Some(Event::Circle)
        );
        assert_eq!(hint(r#"{"type":"shares"}"#), Some(Event::Circle));
        assert_eq!(hint(r#"{"type":"pong"}"#), None);
        assert_eq!(hint("not json"), None);
        assert_eq!(hint(r#"{"type":"dance"}"#), None);
        assert_eq!(
            hint(r#"{"type":"zone"}"#),
            None,
            "a zone frame has its zone"
        );
    }
}
