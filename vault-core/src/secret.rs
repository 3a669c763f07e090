//! Wrappers for secret attribute values: zeroized on drop, redacted in `Debug`.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret string (a password, a note, a TOTP seed). Its memory is wiped on
/// drop and `Debug` never prints it; read it with [`SecretString::expose`].
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. The name is a reminder that what it returns must
    /// not reach a log, an error message or the disk.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Secret bytes (a private key). Wiped on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }

    /// The secret bytes themselves; keep them out of logs and errors.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(value: &[u8]) -> Self {
        Self(value.to_vec())
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(value: Vec<u8>) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretString::new("hunter2-distinctive");
        let b = SecretBytes::new(b"key-bytes-distinctive".to_vec());
        let out = format!("{s:?} {b:?}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("key-bytes"), "{out}");
        assert_eq!(s.expose(), "hunter2-distinctive");
    }
}
