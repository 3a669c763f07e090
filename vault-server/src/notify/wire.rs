//! The hints instances send one another through PostgreSQL NOTIFY: which
//! circle, which zone reached which seq, who was removed, which relay
//! session got a message. Hints only: no record, no key, nothing a device
//! could not learn by asking. A payload is one JSON object
//! `{"o": origin, "h": [hint, ...]}` of at most [`MAX_PAYLOAD`] bytes (the
//! server's limit is 8000); the origin lets an instance skip its own.

use super::{Event, ZoneChange};
use crate::storage::InviteId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vault_proto::codec::{invite_hex, parse_invite, parse_peer, parse_uuid, peer_hex, uuid_text};

/// The NOTIFY channel every instance listens on.
pub const CHANNEL: &str = "vault_hints";

/// The largest payload sent (PostgreSQL refuses 8000 bytes or more).
pub const MAX_PAYLOAD: usize = 7_600;

/// One hint, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Hint {
    /// A push took `zone` of circle `c` to `seq`; `a` pushed.
    #[serde(rename = "z")]
    Zone {
        /// The circle.
        c: String,
        /// The zone.
        z: String,
        /// Its seq.
        s: u64,
        /// The author (hex).
        a: String,
    },
    /// The circle's log grew to `h`; `a` appended.
    #[serde(rename = "g")]
    Grew {
        /// The circle.
        c: String,
        /// The new head.
        h: u64,
        /// The author (hex).
        a: String,
    },
    /// A share for `r` arrived.
    #[serde(rename = "s")]
    Shares {
        /// The circle.
        c: String,
        /// The recipient (hex).
        r: String,
    },
    /// `p`'s membership ended: its sockets close on every instance.
    #[serde(rename = "r")]
    Removed {
        /// The circle.
        c: String,
        /// The removed peer (hex).
        p: String,
    },
    /// A relay session got a message: its long-polls re-read.
    #[serde(rename = "x")]
    Relay {
        /// The invite (hex).
        i: String,
    },
}

/// What a received hint asks of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Publish an event to the circle's local sockets.
    Event(Uuid, Event),
    /// Wake the relay session's local readers.
    Relay(InviteId),
}

impl Hint {
    /// The hint of a locally published event; `None` for what every
    /// instance learns by itself (a disabled circle, a resync).
    pub fn of(circle_id: Uuid, event: &Event) -> Option<Hint> {
        Some(match event {
            Event::ZoneChanged(z) => Hint::Zone {
                c: uuid_text(&circle_id),
                z: z.zone.clone(),
                s: z.seq,
                a: peer_hex(&z.author),
            },
            Event::CircleGrew { head_seq, author } => Hint::Grew {
                c: uuid_text(&circle_id),
                h: *head_seq,
                a: peer_hex(author),
            },
            Event::SharesArrived { recipient } => Hint::Shares {
                c: uuid_text(&circle_id),
                r: peer_hex(recipient),
            },
            Event::MemberRemoved { peer } => Hint::Removed {
                c: uuid_text(&circle_id),
                p: peer_hex(peer),
            },
            Event::CircleDisabled | Event::Resync => return None,
        })
    }

    /// The hint of a relay post.
    pub fn relay(invite_id: &InviteId) -> Hint {
        Hint::Relay {
            i: invite_hex(invite_id),
        }
    }

    /// What this hint asks of the receiving instance; `None` if a field
    /// does not parse.
    pub fn delivery(&self) -> Option<Delivery> {
        let peer = |hex: &str| parse_peer("peer", hex).ok();
        let circle = |text: &str| parse_uuid("circle", text).ok();
        Some(match self {
            Hint::Zone { c, z, s, a } => {
                Delivery::Event(circle(c)?, ZoneChange::event(z, *s, peer(a)?))
            }
            Hint::Grew { c, h, a } => Delivery::Event(
                circle(c)?,
                Event::CircleGrew {
                    head_seq: *h,
                    author: peer(a)?,
                },
            ),
            Hint::Shares { c, r } => Delivery::Event(
                circle(c)?,
                Event::SharesArrived {
                    recipient: peer(r)?,
                },
            ),
            Hint::Removed { c, p } => {
                Delivery::Event(circle(c)?, Event::MemberRemoved { peer: peer(p)? })
            }
            Hint::Relay { i } => Delivery::Relay(parse_invite("invite", i).ok()?),
        })
    }
}

#[derive(Deserialize)]
struct InPayload {
    o: String,
    h: Vec<Hint>,
}

/// The hints packed into as few payloads as fit [`MAX_PAYLOAD`], in
/// order: each hint is serialized once and the payloads are joined from
/// the pieces.
pub fn payloads(origin: &str, hints: &[Hint]) -> Vec<String> {
    // Plain strings and numbers: serializing cannot fail.
    let head = format!(
        r#"{{"o":{},"h":["#,
        serde_json::to_string(origin).unwrap_or_default()
    );
    let mut out = Vec::new();
    let mut current = String::new();
    for hint in hints {
        let piece = serde_json::to_string(hint).unwrap_or_default();
        // A single hint always fits: a zone name is at most 32 bytes.
        if !current.is_empty() && current.len() + 1 + piece.len() + 2 > MAX_PAYLOAD {
            current.push_str("]}");
            out.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(&head);
        } else {
            current.push(',');
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        current.push_str("]}");
        out.push(current);
    }
    out
}

/// The hints of a payload another instance sent; `None` for this
/// instance's own payloads and for text that does not parse.
pub fn decode(origin: &str, payload: &str) -> Option<Vec<Hint>> {
    let p: InPayload = serde_json::from_str(payload).ok()?;
    (p.o != origin).then_some(p.h)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hints_round_trip_and_own_payloads_are_skipped() {
        let c = Uuid::new_v4();
        let events = [
            ZoneChange::event("keychain", 9, [1; 32]),
            Event::CircleGrew {
                head_seq: 4,
                author: [2; 32],
            },
            Event::SharesArrived { recipient: [3; 32] },
            Event::MemberRemoved { peer: [4; 32] },
        ];
        let mut hints: Vec<Hint> = events.iter().map(|e| Hint::of(c, e).unwrap()).collect();
        hints.push(Hint::relay(&[5; 16]));
        assert_eq!(Hint::of(c, &Event::CircleDisabled), None);
        let sent = payloads("aa", &hints);
        assert_eq!(sent.len(), 1);
        assert!(
            decode("aa", &sent[0]).is_none(),
            "an instance skips its own"
        );
        let got = decode("bb", &sent[0]).unwrap();
        assert_eq!(got, hints);
        let delivered: Vec<Delivery> = got.iter().map(|h| h.delivery().unwrap()).collect();
        for (d, e) in delivered.iter().zip(&events) {
            assert_eq!(d, &Delivery::Event(c, e.clone()));
        }
        assert_eq!(delivered[4], Delivery::Relay([5; 16]));
        // Garbage is dropped, not trusted.
        assert!(decode("bb", "{not json").is_none());
        let bad = Hint::Removed {
            c: uuid_text(&c),
            p: "zz".into(),
        };
        assert_eq!(bad.delivery(), None);
    }

    #[test]
    fn many_hints_split_into_payloads_under_the_limit() {
        let c = Uuid::new_v4();
        let hints: Vec<Hint> = (0..500)
            .map(|s| {
                Hint::of(
                    c,
                    &ZoneChange::event("a-zone-name-of-32-characters-xx", s, [7; 32]),
                )
                .unwrap()
            })
            .collect();
        let sent = payloads("origin", &hints);
        assert!(sent.len() > 1);
        assert!(sent.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: Vec<Hint> = sent.iter().flat_map(|p| decode("x", p).unwrap()).collect();
        assert_eq!(back, hints, "every hint once, in order");
    }
}
