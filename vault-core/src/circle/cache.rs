//! The verified state of the stored log, which an unlocked vault keeps
//! until the stored head moves (so the chain is verified once, not on
//! every call).

use super::{CircleState, EntryHash, ServerTrust};
use uuid::Uuid;

/// The one `circle` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CircleRow {
    pub circle_id: Uuid,
    pub server_url: String,
    /// The servers tried after `server_url`, in order.
    pub more_servers: Vec<String>,
    pub trust: ServerTrust,
    pub genesis: EntryHash,
    pub head_seq: u64,
    pub head: EntryHash,
}

/// The stored circle and its verified state, valid while the row is unchanged.
pub(crate) struct LogCache {
    pub row: CircleRow,
    pub state: CircleState,
}
