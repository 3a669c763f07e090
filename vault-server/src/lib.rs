//! vault-server: stores ciphertext, orders changes, keeps the circle log.
