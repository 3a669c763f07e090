//! The WebSocket frames of `GET /v1/ws` are `vault_proto::frames`'; this
//! is the adapter that turns one into its JSON text and an axum message.
//! The socket loop that sends them and the notifier that serializes a
//! `zone` frame once per push both import this module, which imports
//! neither.

use axum::extract::ws::{Message, Utf8Bytes};

pub use vault_proto::frames::{ClientFrame, ServerFrame};

/// A frame as the server sends it.
pub trait FrameText {
    /// The frame's JSON text.
    fn text(&self) -> Utf8Bytes;

    /// The frame as a WebSocket text message.
    fn message(&self) -> Message {
        Message::Text(self.text())
    }
}

impl FrameText for ServerFrame {
    fn text(&self) -> Utf8Bytes {
        // Serializing these plain enums cannot fail.
        serde_json::to_string(self).unwrap_or_default().into()
    }
}
