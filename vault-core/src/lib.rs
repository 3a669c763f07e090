//! vault-core: the local credential vault (placeholder doc; replaced below).
pub mod crypto;
pub mod error;
pub mod item;
pub mod secret;
mod store;

pub use store::*;
