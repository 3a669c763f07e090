//! The Vault sync client front ends embed: everything a device says to
//! its circle's server, over HTTP(S) and a WebSocket. It moves bytes;
//! every check of what comes back is vault-core's.
//!
//! - [`Server`] ([`server`]): one server, its URL checked before any
//!   connection ([`check_url`]: https, or http to loopback unless the user
//!   allowed otherwise), TLS as the circle's
//!   [`ServerTrust`](vault_core::circle::ServerTrust) says ([`tls`]), no
//!   redirect followed, every answer read up to a cap, 429 and 503 waited
//!   out as `Retry-After` says; on the zone routes a request whose
//!   connection failed (not timed out) is tried once more.
//! - The circle routes ([`circle`]): registration, authentication, the
//!   log, key shares; the pairing relay ([`relay`]); pairings a killed
//!   inviter left unconfirmed ([`pending`]).
//! - Pairing ([`pairing`]): [`pairing::invite`] and [`pairing::join`],
//!   vault-core's pairing protocol over the relay with every wait under a
//!   deadline, the person asked through a front end's
//!   [`pairing::PairingUi`]; failures are [`pairing::PairingFlowError`].
//! - [`HttpTransport`] ([`transport`]): vault-core's sync
//!   [`Transport`](vault_core::sync::Transport) over the zone routes.
//! - The watcher ([`watch`]): the WebSocket's hints as [`Event`]s, with
//!   reconnection after jittered [`Backoff`].
//! - The sync loop ([`watcher`]): [`watcher::run`] syncs on every hint,
//!   reconnect and local change until its stop signal, telling a front
//!   end's [`watcher::WatchListener`].
//! - [`Session`] ([`session`]): what a front end drives: authentication
//!   (renewed before the token expires and after a 401), the circle log
//!   and key shares verified by vault-core, log appends that retry, and
//!   sync rounds with their progress.
//!
//! Every JSON body sent and read, and every WebSocket frame, is a
//! [`vault_proto`] type, decoded with its helpers.
//!
//! Errors are [`ClientError`] (and vault-core's `TransportError` inside
//! a sync round); no message carries a token or a secret.

pub mod backoff;
pub mod circle;
mod error;
mod membership;
pub mod pairing;
pub mod pending;
pub mod relay;
mod runtime;
pub mod server;
pub mod session;
pub mod tls;
pub mod transport;
pub mod watch;
pub mod watcher;

pub use backoff::Backoff;
pub use circle::Append;
pub use error::ClientError;
pub use runtime::{background_runtime, runtime, stopped};
pub use server::{CheckedUrl, JSON_BODY_CAP, Server, check_url};
pub use session::{CircleRefresh, Outcome, Session, SessionError};
pub use tls::cert_sha256;
pub use transport::{DEFAULT_WAIT_LIMIT, HttpTransport, ProgressObserver, Stats, TransferProgress};
pub use watch::{Event, WatchTarget};
