//! The one byte reader (and varint writer) every binary format of the crate
//! decodes with: item plaintexts, sync record lists and manifests, circle
//! log entries. Varints are unsigned LEB128 and must be in their shortest
//! form, so each value has exactly one encoding. A leaf: it imports nothing
//! of the crate.

/// Why bytes did not read. Each format maps these into its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The bytes end early.
    Truncated,
    /// A varint is overlong, not in its shortest form, or too large.
    Varint,
    /// A length-prefixed field is over its limit.
    TooLong,
    /// Bytes follow the end.
    Trailing,
}

/// Appends `v` as a shortest-form varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The length of `v` as a varint.
pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

/// A cursor over bytes being decoded.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.0.len() < n {
            return Err(ReadError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A shortest-form varint of at most 64 bits.
    pub fn varint(&mut self) -> Result<u64, ReadError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(ReadError::Varint);
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                // Shortest form only: no trailing zero group.
                if i > 0 && b == 0 {
                    return Err(ReadError::Varint);
                }
                return Ok(v);
            }
        }
        Err(ReadError::Varint)
    }

    /// A count of items each at least `min_size` bytes long, refused if the
    /// rest of the input cannot hold them (so a count never drives a large
    /// allocation).
    pub fn count(&mut self, min_size: usize) -> Result<usize, ReadError> {
        let n = usize::try_from(self.varint()?).map_err(|_| ReadError::Varint)?;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err(ReadError::Truncated);
        }
        Ok(n)
    }

    /// A varint length, then that many bytes (at most `max`).
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], ReadError> {
        let len = usize::try_from(self.varint()?).map_err(|_| ReadError::TooLong)?;
        if len > max {
            return Err(ReadError::TooLong);
        }
        self.take(len)
    }

    /// Fails if bytes remain.
    pub fn finish(&self) -> Result<(), ReadError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ReadError::Trailing)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varints_round_trip_in_shortest_form_only() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.finish().is_ok());
        }
        // 0 as two bytes, and 1 with a trailing zero group: refused.
        assert_eq!(Reader::new(&[0x80, 0x00]).varint(), Err(ReadError::Varint));
        assert_eq!(Reader::new(&[0x81, 0x00]).varint(), Err(ReadError::Varint));
        // Past 64 bits, and eleven bytes: refused.
        let mut big = vec![0xff; 9];
        big.push(0x02);
        assert_eq!(Reader::new(&big).varint(), Err(ReadError::Varint));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(ReadError::Varint));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(ReadError::Truncated));
    }

    #[test]
    fn lengths_and_counts_are_bounded_by_the_input() {
        assert_eq!(Reader::new(&[3, 1, 2]).bytes(8), Err(ReadError::Truncated));
        assert_eq!(Reader::new(&[9, 0]).bytes(8), Err(ReadError::TooLong));
        assert_eq!(Reader::new(&[2, 1, 2]).bytes(8), Ok(&[1u8, 2][..]));
        assert_eq!(
            Reader::new(&[200, 1, 0, 0]).count(2),
            Err(ReadError::Truncated)
        );
        assert_eq!(Reader::new(&[1, 0]).finish(), Err(ReadError::Trailing));
    }
}
