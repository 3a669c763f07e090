//! The agent: a background process, started by `vault unlock`, that holds
//! one vault's session key and hands it to the same user's `vault`
//! processes over a Unix socket (mode 0600, in a 0700 directory, peer uid
//! checked on both ends) until `vault lock` or the idle timeout.
//!
//! Wire format, one exchange per connection: the client sends
//! `"V" || version || op`; the agent answers a status byte, then the op's
//! payload. Ops: `K` the session key (vault id and key-encryption key),
//! `S` the agent's pid and idle seconds left, `L` forget the key and exit,
//! `Q` resolve a query (see `resolve`): the agent keeps the vault open
//! and its search cache warm, so a QUERY costs a lookup, not a scan.

pub mod client;
pub mod paths;
pub mod resolve;
pub mod server;

const MAGIC: u8 = b'V';
const VERSION: u8 = 1;
const OP_KEY: u8 = b'K';
const OP_STATUS: u8 = b'S';
const OP_LOCK: u8 = b'L';
const OP_RESOLVE: u8 = b'Q';
const STATUS_OK: u8 = 0;
const STATUS_REFUSED: u8 = 1;
