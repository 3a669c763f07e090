//! Passwords as the KDF sees them: Unicode NFC, so the same password typed
//! on a keyboard that composes (Linux, Windows) and on one that decomposes
//! (macOS, iOS) derives the same key. Vaults and exports sealed before this
//! normalization derived from the raw bytes; [`KdfPassword::legacy`] names
//! that form for the fallback.

use unicode_normalization::{UnicodeNormalization, is_nfc};
use zeroize::Zeroizing;

/// A master or export password, with its NFC form. The NFC copy, when one
/// is needed, lives in a buffer wiped on drop, and is never reallocated
/// with the password in it.
pub(crate) struct KdfPassword<'a> {
    raw: &'a str,
    /// `None` when `raw` is NFC already.
    normalized: Option<Zeroizing<String>>,
}

impl<'a> KdfPassword<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        let normalized = (!is_nfc(raw)).then(|| nfc_zeroizing(raw));
        Self { raw, normalized }
    }

    /// The form every key is derived from now.
    pub(crate) fn nfc(&self) -> &str {
        self.normalized.as_deref().map_or(self.raw, String::as_str)
    }

    /// The raw form, when it differs from [`KdfPassword::nfc`]: what a vault
    /// or export sealed before normalization was derived from, tried only
    /// after the NFC form failed.
    pub(crate) fn legacy(&self) -> Option<&'a str> {
        self.normalized.as_ref().map(|_| self.raw)
    }
}

impl std::fmt::Debug for KdfPassword<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KdfPassword(<redacted>)")
    }
}

/// `s` in NFC, in a wiped buffer.
fn nfc_zeroizing(s: &str) -> Zeroizing<String> {
    // NFC expands UTF-8 by at most 3x (UAX #15), so this never grows.
    let mut out = Zeroizing::new(String::with_capacity(s.len().saturating_mul(3)));
    for c in s.nfc() {
        push_wiped(&mut out, c);
    }
    out
}

/// Pushes `c`, growing by copying into a larger wiped buffer (the old one
/// is wiped as it drops), so no freed allocation keeps a piece of the
/// password.
fn push_wiped(out: &mut Zeroizing<String>, c: char) {
    if out.len() + c.len_utf8() > out.capacity() {
        let mut bigger = Zeroizing::new(String::with_capacity(out.capacity() * 2 + 4));
        bigger.push_str(out);
        *out = bigger;
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_meet_and_the_raw_form_is_kept_only_when_it_differs() {
        let nfc = "Café-Ångström-ñ";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfd.as_bytes(), nfc.as_bytes());

        let p = KdfPassword::new(&nfd);
        assert_eq!(p.nfc().as_bytes(), nfc.as_bytes());
        assert_eq!(p.legacy(), Some(nfd.as_str()));

        let p = KdfPassword::new(nfc);
        assert_eq!(p.nfc(), nfc);
        assert_eq!(p.legacy(), None);

        let p = KdfPassword::new("plain ascii");
        assert_eq!(p.nfc(), "plain ascii");
        assert_eq!(p.legacy(), None);
        assert_eq!(format!("{p:?}"), "KdfPassword(<redacted>)");
    }

    #[test]
    fn composition_exclusions_expand_and_the_buffer_grows_by_copying() {
        // U+0958 is a composition exclusion: 3 bytes that NFC leaves as two
        // characters, 6 bytes.
        let s = "\u{0958}".repeat(100);
        let want: String = s.nfc().collect();
        assert_eq!(want.len(), 600);
        assert_eq!(*nfc_zeroizing(&s), want);
        assert_eq!(nfc_zeroizing("").as_str(), "");

        let mut out = Zeroizing::new(String::new());
        for c in want.chars() {
            push_wiped(&mut out, c);
            assert!(out.len() <= out.capacity());
        }
        assert_eq!(*out, want);
    }
}
