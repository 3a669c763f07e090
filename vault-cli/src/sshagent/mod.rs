//! `vault ssh-agent`: an SSH agent whose keys live only in the vault. It
//! answers `ssh`, `ssh-add -L` and `ssh-keygen -Y sign` over the SSH
//! agent protocol on a private Unix socket, reading the vault afresh for
//! every request, and refuses what a vault-backed agent cannot do (adding,
//! removing or locking keys) with the protocol's failure reply.

pub mod keys;
mod session;
mod socket;
mod source;

pub use session::VaultAgent;
pub use socket::AgentSocket;
pub use source::VaultSource;
