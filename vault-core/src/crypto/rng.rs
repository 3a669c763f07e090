//! A userspace CSPRNG (ChaCha20 seeded by the OS) for keys and nonces, so an
//! item seal costs no system call.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Bytes drawn from one seed before the generator reseeds from the OS.
const RESEED_AFTER: usize = 1 << 20;

/// The vault's random source: ChaCha20 seeded from `getrandom`, reseeded
/// every MiB and whenever the process id changes (a fork must not replay
/// the parent's keys and nonces).
pub struct VaultRng {
    inner: ChaCha20Rng,
    drawn: usize,
    pid: u32,
}

impl std::fmt::Debug for VaultRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultRng(<state redacted>)")
    }
}

impl VaultRng {
    /// Seeds a generator from the operating system.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed)?;
        Ok(Self {
            inner: ChaCha20Rng::from_seed(*seed),
            drawn: 0,
            pid: std::process::id(),
        })
    }

    /// Fills `dst` with random bytes.
    pub fn fill(&mut self, dst: &mut [u8]) {
        let pid = std::process::id();
        if self.drawn >= RESEED_AFTER || pid != self.pid {
            self.reseed(pid);
        }
        self.drawn += dst.len();
        self.inner.fill_bytes(dst);
    }

    /// Returns an array of random bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }

    fn reseed(&mut self, pid: u32) {
        let mut seed = Zeroizing::new([0u8; 32]);
        if getrandom::fill(&mut *seed).is_err() {
            // The OS source failed after it once worked (it does not on
            // Linux after boot). Still never replay a stream: fold the
            // current stream, the pid and the time into a fresh seed.
            let mut h = Sha256::new();
            let mut cur = Zeroizing::new([0u8; 32]);
            self.inner.fill_bytes(&mut *cur);
            h.update(*cur);
            h.update(pid.to_le_bytes());
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            h.update(nanos.to_le_bytes());
            seed.copy_from_slice(&h.finalize());
        }
        self.inner = ChaCha20Rng::from_seed(*seed);
        self.drawn = 0;
        self.pid = pid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_generators_differ_and_output_is_not_constant() {
        let mut a = VaultRng::new().unwrap();
        let mut b = VaultRng::new().unwrap();
        let x: [u8; 32] = a.array();
        let y: [u8; 32] = b.array();
        let z: [u8; 32] = a.array();
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn reseeds_after_the_limit() {
        let mut a = VaultRng::new().unwrap();
        let mut buf = vec![0u8; RESEED_AFTER];
        a.fill(&mut buf);
        assert_eq!(a.drawn, RESEED_AFTER);
        let _: [u8; 8] = a.array();
        assert_eq!(a.drawn, 8, "the generator reseeded and restarted its count");
    }
}
