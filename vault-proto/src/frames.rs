//! The WebSocket frames of `GET /v1/ws` (`schema/ws/*.json`): what the
//! server sends and what a device may send. Each is one JSON text message
//! with a `type`. Only their shape: the socket loops of both ends turn
//! them into their WebSocket library's messages.
//!
//! A frame of a `type` this version does not know fails to deserialize;
//! both ends ignore such frames (a newer peer may send more).

use serde::{Deserialize, Serialize};

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    /// Asks for a `pong`.
    Ping,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pinned(frame: ServerFrame, text: &str) {
        assert_eq!(serde_json::to_string(&frame).unwrap(), text);
        assert_eq!(serde_json::from_str::<ServerFrame>(text).unwrap(), frame);
    }

    #[test]
    fn frames_are_pinned_and_round_trip() {
        pinned(
            ServerFrame::Hello {
                circle_id: "c".into(),
                peer_id: "p".into(),
            },
            r#"{"type":"hello","circle_id":"c","peer_id":"p"}"#,
        );
        pinned(
            ServerFrame::Circle { head_seq: 7 },
            r#"{"type":"circle","head_seq":7}"#,
        );
        pinned(ServerFrame::Shares, r#"{"type":"shares"}"#);
        pinned(ServerFrame::Pong, r#"{"type":"pong"}"#);
        pinned(
            ServerFrame::Zone {
                zone: "keychain".into(),
                seq: 12,
            },
            r#"{"type":"zone","zone":"keychain","seq":12}"#,
        );
        assert_eq!(
            serde_json::to_string(&ClientFrame::Ping).unwrap(),
            r#"{"type":"ping"}"#
        );
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
    }

    #[test]
    fn unknown_and_malformed_frames_are_refused() {
        for bad in [
            r#"{"type":"dance"}"#,
            r#"{"type":"zone","zone":"keychain"}"#,
            r#"{"type":"circle","head_seq":-1}"#,
            r#"{"zone":"keychain","seq":1}"#,
            "not json",
        ] {
            assert!(serde_json::from_str::<ServerFrame>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"pong"}"#).is_err());
    }
}
