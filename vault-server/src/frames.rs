//! The WebSocket frames of `GET /v1/ws` (`schema/ws/*.json`): what the
//! server sends and what a device may send, and their JSON text. Only their
//! shape: the socket loop that sends them and the notifier that serializes
//! a `zone` frame once per push both import this module, which imports
//! neither.

use axum::extract::ws::{Message, Utf8Bytes};
use serde::{Deserialize, Serialize};

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// Sent once on connect.
    Hello {
        /// The circle the token is for.
        circle_id: String,
        /// This device.
        peer_id: String,
    },
    /// The circle's log grew.
    Circle {
        /// The new head.
        head_seq: u64,
    },
    /// A share addressed to this device arrived.
    Shares,
    /// A zone reached `seq` (pull its changes).
    Zone {
        /// The zone.
        zone: String,
        /// Its seq.
        seq: u64,
    },
    /// The reply to `ping`.
    Pong,
}

/// A frame a device sends (unknown ones are ignored by the socket loop).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ClientFrame {
    /// Asks for a `pong`.
    Ping,
}

impl ServerFrame {
    /// The frame's JSON text.
    pub fn text(&self) -> Utf8Bytes {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default().into()
    }

    /// The frame as a WebSocket text message.
    pub(crate) fn message(&self) -> Message {
        Message::Text(self.text())
    }
}
